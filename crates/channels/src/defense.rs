//! Input defense of one user message (SPEC I1, I2), with its audit event: the one copy that the
//! channels' shared path and the gateway's HTTP fronts both call, so a refusal is logged and
//! audited the same way wherever the message came in.

use rampart_audit::{Actor, AuditSink, Event, Outcome, Record};
use rampart_core::AgentName;
use rampart_guard::{GuardError, InputValidator};

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// It matches prompt-injection patterns of these categories (sorted, no duplicates); already
    /// audited as `injection_detected`.
    Injection(Vec<String>),
    /// It is not a valid message (empty, too long …); the validator's words.
    Invalid(String),
}

/// Sanitizes `text` (control characters other than `\n`, `\t` removed) and refuses prompt
/// injections, recording each refusal as `injection_detected` (source `source`, for `agent`, by
/// `actor`) in `audit`.
///
/// # Errors
/// [`Refusal`] when the message may not reach the model.
pub async fn screen(
    validator: &InputValidator,
    audit: Option<&AuditSink>,
    actor: Actor,
    agent: &AgentName,
    source: &str,
    text: &str,
) -> Result<String, Refusal> {
    match validator.validate_message(text) {
        Ok(clean) => Ok(clean.into_owned()),
        Err(GuardError::PromptInjectionDetected { findings }) => {
            let mut categories: Vec<String> = findings
                .iter()
                .map(|f| f.category.as_str().to_owned())
                .collect();
            categories.sort();
            categories.dedup();
            tracing::warn!(agent = %agent, source, ?categories, "prompt injection refused");
            if let Some(sink) = audit {
                let record = Record::new(Event::InjectionDetected {
                    source: source.to_owned(),
                    categories: categories.clone(),
                })
                .agent(agent.clone())
                .actor(actor)
                .outcome(Outcome::Denied);
                if let Err(e) = sink.record(record).await {
                    tracing::error!(error = %e, "could not append to the audit trail");
                }
            }
            Err(Refusal::Injection(categories))
        }
        Err(e) => Err(Refusal::Invalid(e.to_string())),
    }
}
