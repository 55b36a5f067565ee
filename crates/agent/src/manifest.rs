//! Agent manifests (`agents/NAME/agent.toml`, CONTRACT "Agent manifest").

use rampart_core::AgentName;
use serde::{Deserialize, Serialize};

/// The largest manifest accepted, in bytes.
///
/// # Security
/// Manifests arrive over the API (`POST /api/agents`); parsing is linear but a bound keeps one
/// request from holding megabytes of system prompt in memory per agent.
pub const MAX_MANIFEST_BYTES: usize = 128 * 1024;

/// The longest system prompt accepted, in bytes.
///
/// # Security
/// The system prompt is sent with every model call; a bound keeps each call's cost bounded.
pub const MAX_SYSTEM_PROMPT_BYTES: usize = 64 * 1024;

/// The most entries in `capabilities.tools` or `capabilities.network`.
///
/// # Security
/// Bounds the work of every capability check and the size of every model request's tool list.
pub const MAX_CAPABILITY_ENTRIES: usize = 64;

/// The longest `model` string (`provider/model`) or capability entry accepted.
pub const MAX_NAME_FIELD_LEN: usize = 256;

/// What an agent may do. Every default is "nothing" (SPEC A6): an empty `tools` list means no
/// tools, zero budgets mean none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// The tools the agent may call, by name. Empty = none.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Shell commands per session.
    #[serde(default)]
    pub max_shell_commands: u32,
    /// File writes per session.
    #[serde(default)]
    pub max_file_writes: u32,
    /// Hosts `web_fetch` may reach; empty = any public host.
    #[serde(default)]
    pub network: Vec<String>,
    /// Whether `shell_exec` commands may open sockets (default `false`: the seccomp filter
    /// refuses `socket()`, a container gets `--network=none`). A shell's socket is not held to
    /// `network`'s hosts or `web_fetch`'s address checks, so this is a separate, explicit grant.
    #[serde(default)]
    pub shell_network: bool,
}

impl Capabilities {
    /// True when `tool` is granted.
    #[must_use]
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }
}

/// An agent definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentManifest {
    /// The agent's name (also its directory name).
    pub name: AgentName,
    /// `provider/model`: the configured provider's name, a slash, and the model id it understands.
    pub model: String,
    /// The system prompt.
    #[serde(default)]
    pub system_prompt: String,
    /// What the agent may do.
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// Why a manifest was refused. The message names the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The TOML or JSON did not parse, or had an unknown or mistyped key (the parser's message
    /// names the key and line).
    #[error("manifest does not parse: {0}")]
    Syntax(String),
    /// A key had a value outside its bounds.
    #[error("manifest key `{key}`: {reason}")]
    Invalid {
        /// The dotted key, e.g. `capabilities.tools`.
        key: &'static str,
        /// Why its value was refused.
        reason: String,
    },
    /// The manifest was larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// Keeps parser messages short: they quote the offending input, which may be large.
fn syntax(msg: &str) -> ManifestError {
    ManifestError::Syntax(msg.trim().chars().take(600).collect())
}

impl AgentManifest {
    /// Parses a manifest from TOML or JSON text (JSON when the first non-blank character is `{`).
    ///
    /// # Errors
    /// [`ManifestError`] naming the bad key.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    /// Parses a manifest from TOML.
    ///
    /// # Errors
    /// [`ManifestError`] naming the bad key.
    pub fn from_toml(text: &str) -> Result<Self, ManifestError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge);
        }
        let m: Self = toml::from_str(text).map_err(|e| syntax(&e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Parses a manifest from JSON.
    ///
    /// # Errors
    /// [`ManifestError`] naming the bad key.
    pub fn from_json(text: &str) -> Result<Self, ManifestError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge);
        }
        let m: Self = serde_json::from_str(text).map_err(|e| syntax(&e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// The manifest as TOML (what `agents/NAME/agent.toml` holds).
    ///
    /// # Errors
    /// Only if serialization fails, which valid manifests do not.
    pub fn to_toml(&self) -> Result<String, ManifestError> {
        toml::to_string(self).map_err(|e| syntax(&e.to_string()))
    }

    /// The provider part of `model` (before the first `/`).
    #[must_use]
    pub fn provider(&self) -> &str {
        self.model.split_once('/').map_or("", |(p, _)| p)
    }

    /// The model part of `model` (after the first `/`).
    #[must_use]
    pub fn model_id(&self) -> &str {
        self.model.split_once('/').map_or("", |(_, m)| m)
    }

    /// Checks the bounds that serde's types cannot express.
    ///
    /// # Errors
    /// [`ManifestError::Invalid`] naming the key.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let printable = |s: &str| !s.chars().any(char::is_control);
        match self.model.split_once('/') {
            Some((p, m))
                if !p.is_empty()
                    && !m.is_empty()
                    && self.model.len() <= MAX_NAME_FIELD_LEN
                    && printable(&self.model)
                    && !self.model.contains(char::is_whitespace) => {}
            _ => {
                return Err(invalid(
                    "model",
                    "expected \"provider/model\", e.g. \"default/gpt-4o-mini\"",
                ));
            }
        }
        if self.system_prompt.len() > MAX_SYSTEM_PROMPT_BYTES {
            return Err(invalid(
                "system_prompt",
                format!("longer than {MAX_SYSTEM_PROMPT_BYTES} bytes"),
            ));
        }
        let caps = &self.capabilities;
        if caps.tools.len() > MAX_CAPABILITY_ENTRIES {
            return Err(invalid(
                "capabilities.tools",
                format!("more than {MAX_CAPABILITY_ENTRIES} entries"),
            ));
        }
        for t in &caps.tools {
            let ok = !t.is_empty()
                && t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(invalid(
                    "capabilities.tools",
                    format!(
                        "{:?} is not a tool name (a-z, 0-9, '_')",
                        t.chars().take(70).collect::<String>()
                    ),
                ));
            }
        }
        if caps.network.len() > MAX_CAPABILITY_ENTRIES {
            return Err(invalid(
                "capabilities.network",
                format!("more than {MAX_CAPABILITY_ENTRIES} entries"),
            ));
        }
        for h in &caps.network {
            let ok = !h.is_empty()
                && h.len() <= 253
                && h.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '*')
                });
            if !ok {
                return Err(invalid(
                    "capabilities.network",
                    format!(
                        "{:?} is not a host name",
                        h.chars().take(70).collect::<String>()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "researcher"
model = "default/gpt-4o-mini"
system_prompt = "You research things."
[capabilities]
tools = ["file_read", "web_fetch"]
max_shell_commands = 0
max_file_writes = 10
network = ["example.com"]
"#;

    #[test]
    fn parses_the_contract_example_in_toml_and_json() {
        let m = AgentManifest::parse(GOOD).unwrap();
        assert_eq!(m.name.as_str(), "researcher");
        assert_eq!(m.provider(), "default");
        assert_eq!(m.model_id(), "gpt-4o-mini");
        assert_eq!(m.capabilities.max_file_writes, 10);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(AgentManifest::parse(&json).unwrap(), m);
        assert_eq!(AgentManifest::from_toml(&m.to_toml().unwrap()).unwrap(), m);
    }

    #[test]
    fn defaults_grant_nothing() {
        let m = AgentManifest::parse("name = \"a\"\nmodel = \"p/m\"\n").unwrap();
        assert_eq!(m.capabilities, Capabilities::default());
        assert!(!m.capabilities.allows_tool("clock"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = AgentManifest::parse(&format!("{GOOD}\nsudo = true\n")).unwrap_err();
        assert!(e.to_string().contains("sudo"), "{e}");
        let e =
            AgentManifest::parse("name = \"a\"\nmodel = \"p/m\"\n[capabilities]\ntool = [\"x\"]\n")
                .unwrap_err();
        assert!(e.to_string().contains("tool"), "{e}");
        let e = AgentManifest::parse(r#"{"name":"a","model":"p/m","admin":true}"#).unwrap_err();
        assert!(e.to_string().contains("admin"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("name = \"../etc\"\nmodel = \"p/m\"\n", "name"),
            ("name = \"a\"\nmodel = \"gpt-4o\"\n", "model"),
            (
                "name = \"a\"\nmodel = \"p/m\"\n[capabilities]\ntools = [\"Shell Exec\"]\n",
                "capabilities.tools",
            ),
            (
                "name = \"a\"\nmodel = \"p/m\"\n[capabilities]\nnetwork = [\"a/b\"]\n",
                "capabilities.network",
            ),
            (
                "name = \"a\"\nmodel = \"p/m\"\n[capabilities]\nmax_file_writes = -1\n",
                "max_file_writes",
            ),
            ("model = \"p/m\"\n", "name"),
        ];
        for (text, key) in cases {
            let e = AgentManifest::parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let prompt = "x".repeat(MAX_SYSTEM_PROMPT_BYTES + 1);
        let e = AgentManifest::parse(&format!(
            "name = \"a\"\nmodel = \"p/m\"\nsystem_prompt = \"{prompt}\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("system_prompt"), "{e}");
        let huge = format!(
            "name = \"a\"\nmodel = \"p/m\"\n#{}\n",
            "x".repeat(MAX_MANIFEST_BYTES)
        );
        assert_eq!(
            AgentManifest::parse(&huge).unwrap_err(),
            ManifestError::TooLarge
        );
    }
}
