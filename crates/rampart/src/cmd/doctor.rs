//! `rampart doctor`: which sandbox confinement this machine gives `shell_exec`, and which settings
//! in `config.toml` weaken Rampart. Reads only; needs no vault. Exit 0 (findings are printed as
//! `warn` lines), 2 when the config does not parse.

use std::process::ExitCode;

use rampart_config::Config;

use crate::boot::load_config;
use crate::exit::CliError;
use crate::home::Home;

/// The findings for `config`, as `(level, text)`: `ok` or `warn`.
pub(crate) fn findings(config: &Config) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut check = |bad: bool, warn: String, ok: &str| {
        out.push(if bad {
            ("warn", warn)
        } else {
            ("ok", ok.to_owned())
        });
    };
    check(
        config
            .api_key
            .as_ref()
            .is_some_and(rampart_config::SecretRef::is_literal),
        "api_key is a literal in config.toml; store it in the vault (api_key = \"vault:api_key\")"
            .to_owned(),
        "api_key is not a literal",
    );
    for (name, p) in &config.providers {
        if p.api_key
            .as_ref()
            .is_some_and(rampart_config::SecretRef::is_literal)
        {
            out.push((
                "warn",
                format!("providers.{name}.api_key is a literal in config.toml; use the vault"),
            ));
        }
    }
    let mut check = |bad: bool, warn: String, ok: &str| {
        out.push(if bad {
            ("warn", warn)
        } else {
            ("ok", ok.to_owned())
        });
    };
    check(
        !config.api_listen.ip().is_loopback(),
        format!(
            "api_listen = {} is reachable from other machines",
            config.api_listen
        ),
        "api_listen is loopback only",
    );
    check(
        !config.api_require_auth_local,
        "api_require_auth_local = false: anything on this host (a reverse proxy too) gets in \
         without a key"
            .to_owned(),
        "loopback requests need the key",
    );
    check(
        !config.audit.enabled,
        "[audit] enabled = false: security decisions are not recorded".to_owned(),
        "the audit trail is on",
    );
    let sec = &config.security;
    check(
        sec.shell.allow_shell,
        "[security.shell] allow_shell = true: shell_exec hands command text to /bin/sh".to_owned(),
        "shell_exec runs allowlisted programs without a shell",
    );
    check(
        !sec.approval_required.iter().any(|t| t == "shell_exec"),
        "[security] approval_required does not list shell_exec: commands run without a human"
            .to_owned(),
        "shell_exec needs a human's approval",
    );
    check(
        !sec.shell.env_passthrough.is_empty(),
        format!(
            "[security.shell] env_passthrough hands {:?} to every command",
            sec.shell.env_passthrough
        ),
        "commands get a cleared environment",
    );
    check(
        !sec.prompt_injection_scan,
        "[security] prompt_injection_scan = false".to_owned(),
        "inbound messages are scanned for injections",
    );
    check(
        config.plugins.enabled && !config.plugins.require_signed,
        "[plugins] require_signed = false: unsigned plugins load".to_owned(),
        "plugins must be signed by a trusted publisher",
    );
    // The optional layers: findings only when they are configured.
    if let Some(net) = &config.network {
        if net.shared_secret.is_literal() {
            out.push((
                "warn",
                "[network] shared_secret is a literal in config.toml; store it in the vault \
                 (shared_secret = \"vault:peer_secret\")"
                    .to_owned(),
            ));
        }
        if !net.listen_addr.ip().is_loopback() {
            out.push((
                "warn",
                format!(
                    "[network] listen_addr = {} accepts peer handshakes from other machines",
                    net.listen_addr
                ),
            ));
        }
    }
    if let Some(tg) = config.channels.telegram.as_ref().filter(|t| t.enabled) {
        if tg
            .bot_token
            .as_ref()
            .is_some_and(rampart_config::SecretRef::is_literal)
        {
            out.push((
                "warn",
                "[channels.telegram] bot_token is a literal in config.toml; use the vault"
                    .to_owned(),
            ));
        }
        if tg.access.allowlist == rampart_config::AllowlistMode::Open {
            out.push((
                "warn",
                "[channels.telegram] allowlist = \"open\": anyone who finds the bot talks to the agent"
                    .to_owned(),
            ));
        }
    }
    if config.channels.webchat.access.allowlist == rampart_config::AllowlistMode::Open {
        out.push((
            "warn",
            "[channels.webchat] allowlist = \"open\": every principal the WebSocket route admits \
             talks to the agents over web chat, the loopback bypass included"
                .to_owned(),
        ));
    }
    out
}

/// True when this process runs as root (where Linux does not enforce `RLIMIT_NPROC`).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

pub(crate) fn run(home: &Home) -> Result<ExitCode, CliError> {
    let c = rampart_sandbox::exec::detect();
    println!("confinement: {}", c.summary());
    let level = |good: bool| if good { "ok" } else { "warn" };
    println!(
        "{:4}  landlock {} (kernel ABI {}): shell_exec {}",
        level(c.landlock == "enforced"),
        c.landlock,
        c.landlock_abi,
        if c.landlock == "unavailable" {
            "can reach the whole file system the user can"
        } else {
            "writes only in the agent's workspace"
        }
    );
    println!(
        "{:4}  seccomp {}: {}",
        level(c.seccomp),
        if c.seccomp { "on" } else { "unavailable" },
        if c.seccomp {
            "commands cannot open sockets (unless an agent's manifest grants shell_network)"
        } else {
            "commands can open sockets"
        }
    );
    if running_as_root() {
        println!(
            "warn  running as root: the process-count limit of shell_exec is not enforced by Linux"
        );
    }
    let config = load_config(home)?;
    match crate::boot::shell_backend(&config.security.docker) {
        rampart_agent::ShellBackend::Docker(d) => println!(
            "ok    [security.docker] enabled: shell_exec runs in containers (Docker engine {})",
            d.engine_version()
        ),
        rampart_agent::ShellBackend::DockerUnavailable(why) => println!(
            "warn  [security.docker] enabled, but no Docker engine answers ({why}): every \
             shell_exec call is refused"
        ),
        _ => {
            println!(
                "ok    [security.docker] is off: shell_exec runs in the process sandbox above"
            );
        }
    }
    for (lvl, text) in findings(&config) {
        println!("{lvl:4}  {text}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_settings_are_named() {
        let c = Config::from_toml_str(
            "api_key = \"literal-key\"\napi_listen = \"0.0.0.0:4200\"\n[audit]\nenabled = false\n\
             [security.shell]\nallow_shell = true\n",
            "config.toml",
        )
        .unwrap();
        let warns: Vec<String> = findings(&c)
            .into_iter()
            .filter(|(l, _)| *l == "warn")
            .map(|(_, t)| t)
            .collect();
        for needle in ["api_key is a literal", "0.0.0.0", "[audit]", "allow_shell"] {
            assert!(
                warns.iter().any(|w| w.contains(needle)),
                "{needle}: {warns:?}"
            );
        }
        let c = Config::from_toml_str(
            "api_key = \"vault:api_key\"\n[plugins]\nrequire_signed = false\n\
             [network]\nnode_name = \"home\"\nlisten_addr = \"0.0.0.0:4201\"\n\
             shared_secret = \"a-literal-secret-of-at-least-32-bytes!!\"\n\
             [channels.telegram]\nenabled = true\nbot_token = \"1:literal\"\nallowlist = \"open\"\n\
             [channels.webchat]\nallowlist = \"open\"\n",
            "config.toml",
        )
        .unwrap();
        let warns: Vec<String> = findings(&c)
            .into_iter()
            .filter(|(l, _)| *l == "warn")
            .map(|(_, t)| t)
            .collect();
        for needle in [
            "require_signed",
            "shared_secret is a literal",
            "0.0.0.0:4201",
            "bot_token is a literal",
            "[channels.telegram] allowlist = \"open\"",
            "[channels.webchat] allowlist = \"open\"",
        ] {
            assert!(
                warns.iter().any(|w| w.contains(needle)),
                "{needle}: {warns:?}"
            );
        }
        let clean = Config::from_toml_str("api_key = \"vault:api_key\"\n", "config.toml").unwrap();
        assert!(findings(&clean).iter().all(|(l, _)| *l == "ok"));
    }
}
