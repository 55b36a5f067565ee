//! The crate's one error type.

use crate::scan::Finding;

/// Why the guard refused a text or an identifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The message matched one or more injection patterns (contract code `prompt_injection_detected`).
    #[error("prompt injection detected ({} finding(s))", findings.len())]
    PromptInjectionDetected {
        /// What matched, with spans in the original text.
        findings: Vec<Finding>,
    },
    /// A channel or session identifier is empty or too long (contract code `invalid_input`).
    #[error("invalid {what}: {reason}")]
    InvalidId {
        /// Which identifier: `channel id` or `session id`.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl GuardError {
    /// The contract's error code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            GuardError::PromptInjectionDetected { .. } => "prompt_injection_detected",
            GuardError::InvalidId { .. } => "invalid_input",
        }
    }
}
