//! The error type of this crate.

use rampart_core::AgentName;

use crate::manifest::ManifestError;
use crate::provider::ProviderError;

/// Why an agent operation failed.
///
/// No variant carries a secret or a provider's response body: [`ProviderError`] keeps only the
/// status and a description written by Rampart. [`AgentError::code`] maps each variant to an error
/// code of the HTTP contract and [`AgentError::public_message`] gives text safe to show a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// No agent has this name.
    #[error("agent {0} not found")]
    AgentNotFound(AgentName),
    /// An agent with this name already exists.
    #[error("agent {0} already exists")]
    AgentExists(AgentName),
    /// A manifest did not parse or failed validation; the message names the bad key.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A manifest file under `agents/` could not be loaded at start-up.
    #[error("agent manifest {path}: {source}")]
    ManifestFile {
        /// The file, relative to the Rampart home.
        path: String,
        /// What was wrong.
        source: ManifestError,
    },
    /// The request itself was invalid (empty or oversized message, bad session id).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The agent's model names a provider that is not configured.
    #[error("provider {0:?} is not configured")]
    ProviderNotConfigured(String),
    /// The provider failed (network, timeout, HTTP status, malformed or oversized response).
    #[error("provider {provider:?}: {source}")]
    Provider {
        /// The configured provider's name.
        provider: String,
        /// What went wrong (never the response body).
        source: ProviderError,
    },
    /// The session store failed.
    #[error("session store: {0}")]
    Store(#[from] rampart_store::StoreError),
    /// Reading or writing agent files failed.
    #[error("agent files: {0}")]
    Io(#[from] std::io::Error),
    /// A background task panicked or was cancelled.
    #[error("internal task failed")]
    Task,
}

impl AgentError {
    /// The contract error code for this error: `not_found`, `invalid_input`, `conflict`,
    /// `provider_error` (suggested HTTP 502) or `internal` (500).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::AgentNotFound(_) => "not_found",
            Self::AgentExists(_) => "conflict",
            Self::Manifest(_) | Self::InvalidInput(_) => "invalid_input",
            Self::Store(rampart_store::StoreError::InvalidSessionId) => "invalid_input",
            Self::ProviderNotConfigured(_) | Self::Provider { .. } => "provider_error",
            Self::ManifestFile { .. } | Self::Store(_) | Self::Io(_) | Self::Task => "internal",
        }
    }

    /// A message safe to send to an API client: the full message for client-caused and provider
    /// errors, a generic one for internal failures (whose detail, e.g. file paths, belongs in the
    /// log only).
    #[must_use]
    pub fn public_message(&self) -> String {
        match self.code() {
            "internal" => "internal error".to_owned(),
            _ => self.to_string(),
        }
    }
}
