//! `plugin.toml`: what a plugin is, which tools it offers, what it asks for.
//!
//! ```toml
//! name = "weather"
//! version = "1.0.0"
//! description = "Weather forecasts."
//! host_functions = ["log", "http_fetch"]
//! hosts = ["api.weather.example"]
//!
//! [[tools]]
//! name = "forecast"
//! description = "The forecast for a city."
//! parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }
//!
//! [secrets.api_key]
//! header = "X-Api-Key"
//!
//! [limits]
//! fuel = 1_000_000
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::PluginError;

/// Largest `plugin.toml` read.
///
/// # Security
/// The manifest comes from the plugin's author; it is parsed before anything is trusted.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Most tools one plugin may offer.
///
/// # Security
/// Each tool is advertised to the model; a plugin must not flood an agent's tool list.
pub const MAX_TOOLS: usize = 32;
/// Most hosts and secrets in a manifest.
///
/// # Security
/// Bounds the policy built from a hostile manifest.
pub const MAX_MANIFEST_LIST: usize = 32;
/// Longest description (plugin or tool).
///
/// # Security
/// Descriptions reach the model's context and are scanned for injections; keep them short.
pub const MAX_DESCRIPTION_BYTES: usize = 2048;

/// A host function group a manifest can request (each maps to imports of
/// [`crate::abi::HOST_MODULE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HostFunction {
    /// `log`.
    Log,
    /// `kv_get`, `kv_set`.
    Kv,
    /// `http_fetch`.
    HttpFetch,
}

impl HostFunction {
    /// The name used in manifests and grants.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Kv => "kv",
            Self::HttpFetch => "http_fetch",
        }
    }

    /// Parses a manifest/grant name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "log" => Some(Self::Log),
            "kv" => Some(Self::Kv),
            "http_fetch" => Some(Self::HttpFetch),
            _ => None,
        }
    }

    /// The group an import name belongs to.
    #[must_use]
    pub fn of_import(name: &str) -> Option<Self> {
        match name {
            "log" => Some(Self::Log),
            "kv_get" | "kv_set" => Some(Self::Kv),
            "http_fetch" => Some(Self::HttpFetch),
            _ => None,
        }
    }
}

/// One tool a plugin offers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ToolDef {
    /// The name within the plugin (`[a-z0-9_]`); agents see `PLUGIN__NAME`.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub parameters: serde_json::Value,
}

/// How the host injects one named secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretDef {
    /// The request header that carries it.
    pub header: String,
    /// Text put before the value (e.g. `Bearer `).
    pub prefix: String,
}

/// Limits a manifest asks for; each can only lower `[security.wasm]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestLimits {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Wall-clock milliseconds per call.
    pub timeout_ms: Option<u64>,
    /// Linear-memory pages.
    pub memory_pages: Option<u32>,
}

/// A parsed, checked `plugin.toml`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Manifest {
    /// `[a-z0-9_]`, 1–32 characters: the install directory and the tool prefix.
    pub name: String,
    /// Free-form version, at most 64 characters.
    pub version: String,
    /// What the plugin is.
    pub description: String,
    /// Host functions requested.
    pub host_functions: BTreeSet<HostFunction>,
    /// Hosts `http_fetch` may reach (`[web.fetch]`'s patterns: `api.example.com`,
    /// `*.example.com`). Required, non-empty, when `http_fetch` is requested.
    pub hosts: Vec<String>,
    /// The tools.
    pub tools: Vec<ToolDef>,
    /// Secrets by name.
    pub secrets: BTreeMap<String, SecretDef>,
    /// Requested limits.
    pub limits: ManifestLimits,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    host_functions: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    tools: Vec<RawTool>,
    #[serde(default)]
    secrets: BTreeMap<String, RawSecret>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    name: String,
    description: String,
    parameters: Option<toml::Value>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    header: String,
    #[serde(default)]
    prefix: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
    memory_pages: Option<u32>,
}

/// `[a-z0-9_]`, 1 to 32 characters, no leading digit, no `__` (the tool separator).
#[must_use]
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && !s.contains("__")
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// Headers a secret may not be put in.
///
/// # Security
/// These steer the request itself (routing, framing, cookies); a credential goes in an
/// authentication header, not there.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "cookie",
    "te",
    "upgrade",
    "proxy-authorization",
];

impl Manifest {
    /// Parses and checks `plugin.toml` text.
    ///
    /// # Errors
    /// [`PluginError::Manifest`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let bad = |m: String| PluginError::Manifest(m);
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(bad(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
        }
        let raw: RawManifest = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
        if !valid_name(&raw.name) {
            return Err(bad(format!(
                "name {:?}: 1 to 32 of [a-z0-9_], not starting with a digit, no \"__\"",
                raw.name
            )));
        }
        if raw.version.is_empty()
            || raw.version.len() > 64
            || raw.version.contains(char::is_control)
        {
            return Err(bad("version: 1 to 64 printable characters".to_owned()));
        }
        if raw.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(bad(format!(
                "description: at most {MAX_DESCRIPTION_BYTES} bytes"
            )));
        }
        let mut host_functions = BTreeSet::new();
        for f in &raw.host_functions {
            let f = HostFunction::parse(f).ok_or_else(|| {
                bad(format!(
                    "host_functions: {f:?} is not one of \"log\", \"kv\", \"http_fetch\""
                ))
            })?;
            host_functions.insert(f);
        }
        if raw.hosts.len() > MAX_MANIFEST_LIST || raw.secrets.len() > MAX_MANIFEST_LIST {
            return Err(bad(format!(
                "hosts and secrets: at most {MAX_MANIFEST_LIST} each"
            )));
        }
        if host_functions.contains(&HostFunction::HttpFetch) && raw.hosts.is_empty() {
            return Err(bad(
                "hosts: http_fetch is requested, so the hosts it may reach must be listed"
                    .to_owned(),
            ));
        }
        if !host_functions.contains(&HostFunction::HttpFetch) && !raw.secrets.is_empty() {
            return Err(bad(
                "secrets: only http_fetch can use a secret, and it is not requested".to_owned(),
            ));
        }
        if raw.tools.is_empty() || raw.tools.len() > MAX_TOOLS {
            return Err(bad(format!("tools: 1 to {MAX_TOOLS}")));
        }
        let mut tools = Vec::new();
        let mut seen = BTreeSet::new();
        for t in raw.tools {
            if !valid_name(&t.name) || !seen.insert(t.name.clone()) {
                return Err(bad(format!(
                    "tools: {:?} is not a valid, unique tool name",
                    t.name
                )));
            }
            if t.description.is_empty() || t.description.len() > MAX_DESCRIPTION_BYTES {
                return Err(bad(format!(
                    "tools.{}.description: 1 to {MAX_DESCRIPTION_BYTES} bytes",
                    t.name
                )));
            }
            let parameters = match t.parameters {
                None => serde_json::json!({"type": "object", "properties": {}}),
                Some(v) => serde_json::to_value(v)
                    .map_err(|e| bad(format!("tools.{}.parameters: {e}", t.name)))?,
            };
            if parameters.get("type").and_then(serde_json::Value::as_str) != Some("object") {
                return Err(bad(format!(
                    "tools.{}.parameters: must be a JSON Schema with type = \"object\"",
                    t.name
                )));
            }
            tools.push(ToolDef {
                name: t.name,
                description: t.description,
                parameters,
            });
        }
        let mut secrets = BTreeMap::new();
        for (name, s) in raw.secrets {
            if !valid_name(&name) {
                return Err(bad(format!("secrets: {name:?} is not a valid name")));
            }
            let header = s.header.to_ascii_lowercase();
            let token_ok = !header.is_empty()
                && header.len() <= 64
                && header
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
            if !token_ok || FORBIDDEN_HEADERS.contains(&header.as_str()) {
                return Err(bad(format!(
                    "secrets.{name}.header: {:?} is not an allowed header name",
                    s.header
                )));
            }
            if s.prefix.len() > 64 || s.prefix.contains(char::is_control) {
                return Err(bad(format!(
                    "secrets.{name}.prefix: at most 64 printable characters"
                )));
            }
            secrets.insert(
                name,
                SecretDef {
                    header,
                    prefix: s.prefix,
                },
            );
        }
        if raw.limits.fuel == Some(0)
            || raw.limits.timeout_ms == Some(0)
            || raw.limits.memory_pages == Some(0)
        {
            return Err(bad("limits: values must be at least 1".to_owned()));
        }
        Ok(Self {
            name: raw.name,
            version: raw.version,
            description: raw.description,
            host_functions,
            hosts: raw.hosts,
            tools,
            secrets,
            limits: ManifestLimits {
                fuel: raw.limits.fuel,
                timeout_ms: raw.limits.timeout_ms,
                memory_pages: raw.limits.memory_pages,
            },
        })
    }

    /// Every description the model will see, with a label, for the install-time scan (SPEC
    /// I3): the plugin's, each tool's, and every `description`/`title` inside the schemas.
    #[must_use]
    pub fn texts_for_scan(&self) -> Vec<(String, String)> {
        let mut out = vec![("description".to_owned(), self.description.clone())];
        for t in &self.tools {
            out.push((
                format!("tools.{}.description", t.name),
                t.description.clone(),
            ));
            let mut strings = Vec::new();
            collect_schema_text(&t.parameters, &mut strings, 0);
            if !strings.is_empty() {
                out.push((format!("tools.{}.parameters", t.name), strings.join("\n")));
            }
        }
        out
    }
}

/// The text of `description` and `title` values, and of the strings under `enum`, `examples`,
/// `default` and `const`, in a schema (bounded depth): what the model reads of it.
fn collect_schema_text(v: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("description" | "title", serde_json::Value::String(s)) => {
                        out.push(s.clone());
                    }
                    ("enum" | "examples" | "default" | "const", v) => {
                        collect_strings(v, out, depth + 1);
                    }
                    _ => collect_schema_text(v, out, depth + 1),
                }
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                collect_schema_text(v, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Every string inside `v` (bounded depth).
fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out, depth + 1)),
        serde_json::Value::Object(m) => m.values().for_each(|v| collect_strings(v, out, depth + 1)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "weather"
version = "1.0.0"
description = "Weather."
host_functions = ["log", "http_fetch"]
hosts = ["api.weather.example"]
[[tools]]
name = "forecast"
description = "The forecast."
parameters = { type = "object", properties = { city = { type = "string", description = "a city" }, unit = { enum = ["c", "f"] } } }
[secrets.api_key]
header = "X-Api-Key"
[limits]
fuel = 1000
"#;

    #[test]
    fn a_good_manifest_parses() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.name, "weather");
        assert!(m.host_functions.contains(&HostFunction::HttpFetch));
        assert_eq!(
            m.tools[0].parameters["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(m.secrets["api_key"].header, "x-api-key");
        assert_eq!(m.limits.fuel, Some(1000));
        let texts = m.texts_for_scan();
        assert!(texts.iter().any(|(_, t)| t == "a city\nc\nf"), "{texts:?}");
    }

    proptest::proptest! {
        /// Hostile manifest text never panics the parser, and what it accepts obeys the rules.
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "(?s).{0,400}") {
            if let Ok(m) = Manifest::parse(&text) {
                proptest::prop_assert!(valid_name(&m.name));
                proptest::prop_assert!(!m.tools.is_empty());
            }
        }

        /// Mutating a good manifest never yields a tool name that breaks the `PLUGIN__TOOL` rule.
        #[test]
        fn mutated_manifests_keep_names_valid(at in 0usize..400, byte in proptest::prelude::any::<u8>()) {
            let mut bytes = GOOD.as_bytes().to_vec();
            let i = at % bytes.len();
            bytes[i] = byte;
            if let Ok(text) = std::str::from_utf8(&bytes)
                && let Ok(m) = Manifest::parse(text)
            {
                proptest::prop_assert!(valid_name(&m.name));
                for t in &m.tools {
                    proptest::prop_assert!(valid_name(&t.name));
                }
            }
        }
    }

    #[test]
    fn bad_manifests_are_refused_with_a_reason() {
        for (edit, needle) in [
            (GOOD.replace("\"weather\"", "\"../etc\""), "name"),
            (GOOD.replace("\"weather\"", "\"a__b\""), "name"),
            (
                GOOD.replace("hosts = [\"api.weather.example\"]", ""),
                "hosts",
            ),
            (
                GOOD.replace("\"http_fetch\"]", "\"wasi\"]"),
                "host_functions",
            ),
            (GOOD.replace("X-Api-Key", "Host"), "header"),
            (GOOD.replace("fuel = 1000", "fuel = 0"), "limits"),
            (
                GOOD.replace(
                    "type = \"object\", properties",
                    "type = \"string\", properties",
                ),
                "parameters",
            ),
            (format!("{GOOD}\nunknown = 1\n"), "unknown"),
        ] {
            let err = Manifest::parse(&edit).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
