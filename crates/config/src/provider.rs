//! `[providers.NAME]`: where agents' models come from.

use rampart_core::SecretRef;

/// The wire protocol a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, any `base_url`).
    Openai,
    /// Anthropic's messages API.
    Anthropic,
    /// Deterministic and offline; for the demo and tests.
    Scripted,
}

/// One `[providers.NAME]` table. Agents refer to it as `model = "NAME/MODEL"`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The protocol.
    pub kind: ProviderKind,
    /// The API base URL. Defaults: `https://api.openai.com/v1` (openai),
    /// `https://api.anthropic.com` (anthropic); unused by `scripted`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The API key, as a secret reference. Local servers (Ollama) need none.
    #[serde(default)]
    pub api_key: Option<SecretRef>,
}

impl ProviderConfig {
    /// The base URL in effect: the configured one, else the provider's public endpoint.
    #[must_use]
    pub fn effective_base_url(&self) -> Option<&str> {
        match (&self.base_url, self.kind) {
            (Some(url), _) => Some(url.as_str()),
            (None, ProviderKind::Openai) => Some("https://api.openai.com/v1"),
            (None, ProviderKind::Anthropic) => Some("https://api.anthropic.com"),
            (None, ProviderKind::Scripted) => None,
        }
    }
}
