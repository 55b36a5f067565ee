//! The agent loop's observer: every model call and tool call becomes an audit entry (SPEC D2).

use rampart_agent::{Observed, ToolStatus, TurnObserver};
use rampart_audit::{Actor, AuditSink, Event, Outcome, Record};

/// Records what the agent loop does to the audit trail.
///
/// The loop's observer hook is synchronous (it runs inline in the turn), so each record is handed
/// to the audit writer on a task; the writer commits it with the next group fsync, normally within
/// milliseconds, and shutdown drains the queue before the final checkpoint.
#[derive(Debug, Clone)]
pub struct AuditObserver {
    sink: AuditSink,
}

impl AuditObserver {
    /// An observer writing to `sink`.
    #[must_use]
    pub fn new(sink: AuditSink) -> Self {
        Self { sink }
    }
}

fn outcome(status: ToolStatus) -> Outcome {
    match status {
        ToolStatus::Ok => Outcome::Ok,
        ToolStatus::Denied => Outcome::Denied,
        ToolStatus::ApprovalRequired => Outcome::ApprovalRequired,
        ToolStatus::Blocked => Outcome::Blocked,
        _ => Outcome::Error,
    }
}

impl TurnObserver for AuditObserver {
    fn observe(&self, event: &Observed<'_>) {
        let record = match event {
            Observed::ModelCall {
                agent,
                provider,
                model,
                usage,
                error,
                ..
            } => Record::new(Event::ModelCall {
                provider: (*provider).to_owned(),
                model: (*model).to_owned(),
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
            })
            .agent((*agent).clone())
            .actor(Actor::Agent((*agent).clone()))
            .outcome(if error.is_some() {
                Outcome::Error
            } else {
                Outcome::Ok
            }),
            Observed::ToolCall {
                ctx, call, record, ..
            } => Record::new(Event::tool_call(
                &call.name,
                &call.arguments,
                record.error.as_deref(),
            ))
            .agent(ctx.agent.clone())
            .actor(Actor::Agent(ctx.agent.clone()))
            .outcome(outcome(record.status)),
            _ => return,
        };
        let sink = self.sink.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = sink.record(record).await {
                    tracing::error!(error = %e, "could not append to the audit trail");
                }
            });
        } else if let Err(e) = sink.record_blocking(record) {
            tracing::error!(error = %e, "could not append to the audit trail");
        }
    }
}
