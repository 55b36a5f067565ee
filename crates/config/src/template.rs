//! The commented `config.toml` that `rampart init` writes.

use crate::ProviderKind;

/// What `rampart init` was told about the provider.
#[derive(Clone, Debug)]
pub struct TemplateOptions {
    /// The provider's protocol.
    pub provider: ProviderKind,
    /// Its base URL, if not the public default.
    pub base_url: Option<String>,
}

/// Renders the default configuration: every secure default written out with the reason for it,
/// so a user reading the file learns what each key protects.
#[must_use]
pub fn default_config_toml(opts: &TemplateOptions) -> String {
    let kind = match opts.provider {
        ProviderKind::Openai => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Scripted => "scripted",
    };
    let base_url = opts.base_url.as_ref().map_or_else(
        || "# base_url = \"http://127.0.0.1:11434/v1\"   # e.g. a local Ollama; default: the public API\n".to_owned(),
        |u| format!("base_url = {}\n", toml_string(u)),
    );
    let api_key = match opts.provider {
        ProviderKind::Scripted => {
            "# The scripted provider is offline and needs no key.\n".to_owned()
        }
        ProviderKind::Openai => key_comment("openai_api_key", "OPENAI_API_KEY"),
        ProviderKind::Anthropic => key_comment("anthropic_api_key", "ANTHROPIC_API_KEY"),
    };
    format!(
        r#"# Rampart configuration. Every value below is the secure default; the comments say why.
# Secrets are references: "vault:NAME" (encrypted vault), "env:VAR" (environment), or a literal
# (works, but then the secret sits in plain text on disk).

# The key every API client must present as "Authorization: Bearer KEY". `rampart init` generated
# one into the vault; rotate it with `rampart keygen` + `rampart vault set api_key`.
api_key = "vault:api_key"

# Loopback only. To listen on another address an api_key is required, or start refuses.
api_listen = "127.0.0.1:4200"

# Require the key even from 127.0.0.1: a reverse proxy on this host makes every request local.
api_require_auth_local = true

# More people, each with a role and a key of their own (the api_key above is the owner's). Make a
# key and its hash with `rampart keygen --hash`; POST /api/config/reload or SIGHUP applies edits.
# [[users]]
# name = "alice"
# role = "user"                            # owner | admin | user | viewer (the default)
# api_key_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
# channel_bindings = {{ telegram = "123456789" }}
# enabled = true

# Agents name a provider as model = "default/MODEL".
[providers.default]
kind = "{kind}"
{base_url}{api_key}
[agents]
# Model calls per user message before the loop stops; bounds cost and runaway tool loops.
max_turns = 8

[security]
# Run the prompt-injection detector on every inbound message (messages are sanitized either way).
prompt_injection_scan = true
# File tools never leave the agent's workspace (this cannot be turned off), and by default do not
# follow symlinks at all; true follows links that stay inside the workspace.
strict_path_validation = true
allow_symlinks = false
# Tools whose every call waits for a human's approval of its exact arguments
# (GET /api/approvals, POST /api/approvals/ID); an approval expires after approval_ttl_secs.
approval_required = ["shell_exec"]
approval_ttl_secs = 600

[security.shell]
# shell_exec splits the command into argv and runs an allowed program directly: no shell, a
# cleared environment (plus env_passthrough), the workspace as working directory, rlimits,
# Landlock and seccomp where the kernel has them, the whole process group killed on timeout.
allowed_programs = ["echo", "ls", "pwd", "date", "cat", "head", "tail", "wc", "grep", "sort", "uniq"]
allow_shell = false
env_passthrough = []
timeout_secs = 30

[security.docker]
# Run commands in a throwaway container instead (needs a Docker engine).
enabled = false
image = "python:3.12-slim"
network = "none"
memory_limit = "512m"
cpu_limit = 1.0
timeout_secs = 60
read_only_root = true
pids_limit = 100

[security.wasm]
# Every WASM plugin call gets its own fuel (about one unit per instruction), a wall-clock
# deadline (an epoch watchdog in WASM code, a timeout in host calls) and a memory cap in 64 KiB
# pages (256 = 16 MiB). A plugin's manifest can only lower these.
fuel_limit = 10_000_000
epoch_timeout_ms = 5000
max_memory_pages = 256

[web.fetch]
# web_fetch reaches public hosts only: every address the host resolves to is checked, the
# connection is pinned to it, and every redirect is checked again.
block_private_ips = true
block_metadata_endpoints = true
max_redirects = 3
allowed_hosts = []        # empty = any public host
allow_private = []        # exact "host:port" exceptions for intranet services, e.g. "127.0.0.1:8123"

[audit]
# A SHA-256 hash chain of every security decision, with signed checkpoints (key in the vault).
enabled = true
log_path = "audit.jsonl"
hash_algorithm = "sha256"

[plugins]
# WASM plugins: `rampart plugins install DIR`, loaded (and verified again) at start. Signatures
# count only when made by one of trusted_keys; a key a plugin carries is never trusted.
enabled = true
require_signed = true
trusted_keys = []         # "ed25519:..." lines printed by the publisher's `rampart plugins keygen`
# A plugin gets no host function unless granted here, by plugin name:
# [plugins.grants.weather]
# host_functions = ["log", "kv", "http_fetch"]
# secrets = {{ api_key = "vault:weather_api_key" }}

[security.headers]
# Sent on every response, errors included.
csp = "default-src 'self'; script-src 'self'"
x_frame_options = "DENY"
x_content_type_options = "nosniff"
strict_transport_security = "max-age=31536000; includeSubDomains"
referrer_policy = "strict-origin-when-cross-origin"

# Chat channels (docs/channels.md). Closed by default: only allowed_users, people whose
# [[users]] channel_bindings name them, and people who paired (`rampart pair telegram`) get answers.
# [channels.telegram]
# enabled = true
# bot_token = "vault:telegram_bot_token"
# api_base_url = "https://api.telegram.org"
# allowlist = "closed"
# allowed_users = []
# rate_limit_per_user = 10
# default_agent = "assistant"

# The web chat (/chat and the agents' WebSocket) is a channel too. Its user ids are principal
# names: every enabled [[users]] entry and the gateway's api_key are on its allowlist; the loopback
# bypass ("local") only when listed.
# [channels.webchat]
# allowlist = "closed"
# allowed_users = []
# rate_limit_per_user = 10

# Peer network (docs/peer-protocol.md): off unless shared_secret (at least 32 bytes) is set.
# [network]
# node_name = "home"
# listen_addr = "127.0.0.1:4201"
# shared_secret = "vault:peer_secret"
# peers = []
"#
    )
}

/// The comment explaining where a provider key comes from.
fn key_comment(vault_name: &str, env_var: &str) -> String {
    format!(
        "# The key is looked up vault > config > environment: the vault entry `{vault_name}`\n\
         # (rampart vault set {vault_name}), else api_key here, else ${env_var}. Local servers need none.\n\
         # api_key = \"vault:{vault_name}\"\n"
    )
}

/// A TOML basic string for `s` (quotes and backslashes escaped).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    /// The commented-out channel and network examples are real config: uncommented, they parse.
    #[test]
    fn the_commented_channel_and_network_examples_parse() {
        let text = default_config_toml(&TemplateOptions {
            provider: ProviderKind::Scripted,
            base_url: None,
        });
        let mut out = String::new();
        let mut on = false;
        for line in text.lines() {
            if line == "# [channels.telegram]"
                || line == "# [channels.webchat]"
                || line == "# [network]"
            {
                on = true;
            } else if line.is_empty() {
                on = false;
            }
            out.push_str(if on { &line[2..] } else { line });
            out.push('\n');
        }
        let c = Config::from_toml_str(&out, "config.toml").unwrap();
        let tg = c.channels.telegram.as_ref().unwrap();
        assert!(tg.enabled);
        assert_eq!(tg.access.allowlist, crate::AllowlistMode::Closed);
        assert_eq!(c.network.as_ref().unwrap().node_name, "home");
        assert_eq!(c.channels.webchat.access.rate_limit_per_user.get(), 10);
    }

    #[test]
    fn template_parses_to_the_defaults() {
        for provider in [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::Scripted,
        ] {
            let text = default_config_toml(&TemplateOptions {
                provider,
                base_url: Some("http://127.0.0.1:9/v1\"\nx=\"".to_owned()),
            });
            let c = Config::from_toml_str(&text, "config.toml").unwrap();
            assert!(c.api_require_auth_local);
            assert_eq!(c.api_listen.to_string(), "127.0.0.1:4200");
            assert_eq!(c.providers["default"].kind, provider);
            assert!(c.api_key.is_some());
            assert!(c.providers["default"].api_key.is_none());
        }
    }
}
