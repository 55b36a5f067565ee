//! The agent loop's observer: every model call and tool call becomes an audit entry (SPEC D2),
//! and so does the resource a tool touched (a workspace file, a network host).

use rampart_agent::{Observed, ToolStatus, TurnObserver};
use rampart_audit::{Actor, AuditSink, Event, FileOp, Outcome, Record};

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

    /// Hands one record to the audit writer.
    fn send(&self, record: Record) {
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

fn outcome(status: ToolStatus) -> Outcome {
    match status {
        ToolStatus::Ok => Outcome::Ok,
        ToolStatus::Denied => Outcome::Denied,
        ToolStatus::ApprovalRequired => Outcome::ApprovalRequired,
        ToolStatus::Blocked => Outcome::Blocked,
        _ => Outcome::Error,
    }
}

/// The resource a tool call touched, for calls that were allowed to run: `file_access` for the
/// file tools (the workspace-relative path), `network_request` for `web_fetch` (the host, never
/// the path, query or body).
fn resource_event(tool: &str, args: &serde_json::Value, status: ToolStatus) -> Option<Event> {
    if !matches!(status, ToolStatus::Ok | ToolStatus::Error) {
        return None;
    }
    let arg = |k: &str| args.get(k).and_then(serde_json::Value::as_str);
    let op = match tool {
        "file_read" => FileOp::Read,
        "file_write" => FileOp::Write,
        "file_delete" => FileOp::Delete,
        "file_list" => FileOp::List,
        "web_fetch" => {
            let url = url::Url::parse(arg("url")?).ok()?;
            return Some(Event::NetworkRequest {
                host: url.host_str()?.to_owned(),
                port: url.port_or_known_default(),
                method: "GET".to_owned(),
            });
        }
        _ => return None,
    };
    Some(Event::FileAccess {
        op,
        path: arg("path").unwrap_or(".").to_owned(),
    })
}

impl TurnObserver for AuditObserver {
    fn observe(&self, event: &Observed<'_>) {
        match event {
            Observed::ModelCall {
                agent,
                provider,
                model,
                usage,
                error,
                ..
            } => {
                let event = Event::ModelCall {
                    provider: (*provider).to_owned(),
                    model: (*model).to_owned(),
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                };
                let outcome = if error.is_some() {
                    Outcome::Error
                } else {
                    Outcome::Ok
                };
                let agent = (*agent).clone();
                self.send(
                    Record::new(event)
                        .agent(agent.clone())
                        .actor(Actor::Agent(agent))
                        .outcome(outcome),
                );
            }
            Observed::ToolCall {
                ctx, call, record, ..
            } => {
                let agent = ctx.agent.clone();
                if let Some(access) = resource_event(&call.name, &call.arguments, record.status) {
                    let r = Record::new(access)
                        .agent(agent.clone())
                        .actor(Actor::Agent(agent.clone()));
                    self.send(r.outcome(outcome(record.status)));
                }
                let event = Event::tool_call(&call.name, &call.arguments, record.error.as_deref());
                let r = Record::new(event)
                    .agent(agent.clone())
                    .actor(Actor::Agent(agent));
                self.send(r.outcome(outcome(record.status)));
            }
            _ => {}
        }
    }
}
