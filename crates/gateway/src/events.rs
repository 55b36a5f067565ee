//! Security events the gateway emits: one sink handed down from `main`, never a global.
//!
//! Each event is logged (untrusted values escaped so they cannot forge log lines) and appended to
//! the audit trail when it is enabled. Recording waits for the audit trail's acknowledgement (the
//! entry is on disk) before the request goes on.

use std::net::SocketAddr;

use rampart_audit::{Actor, AuditSink, Event, Outcome, Record};
use rampart_core::AgentName;

/// The gateway's event sink. Cloning is cheap.
#[derive(Clone, Debug, Default)]
pub struct Events {
    audit: Option<AuditSink>,
}

impl Events {
    /// A sink that logs and, with `audit`, records to the audit trail.
    #[must_use]
    pub fn new(audit: Option<AuditSink>) -> Self {
        Self { audit }
    }

    /// The audit trail, when enabled.
    #[must_use]
    pub fn audit(&self) -> Option<&AuditSink> {
        self.audit.as_ref()
    }

    /// Appends one record; a failure is logged, never turned into a client error (the request was
    /// already decided), but it is loud: an audit trail that cannot write is an incident.
    pub async fn record(&self, record: Record) {
        if let Some(sink) = &self.audit
            && let Err(e) = sink.record(record).await
        {
            tracing::error!(error = %e, "could not append to the audit trail");
        }
    }

    /// A request was refused for a missing or wrong credential.
    pub async fn auth_failed(
        &self,
        peer: Option<SocketAddr>,
        method: &str,
        path: &str,
        reason: &str,
    ) {
        tracing::warn!(
            peer = %peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string()),
            method = %method.escape_debug(),
            path = %path.escape_debug(),
            reason,
            "authentication failed"
        );
        let actor = peer.map_or(Actor::System, |p| Actor::Ip(p.ip()));
        let event = Event::AuthFailed {
            method: "bearer".to_owned(),
            reason: reason.to_owned(),
            target: format!("{method} {path}"),
        };
        self.record(Record::new(event).actor(actor).outcome(Outcome::Denied))
            .await;
    }

    /// An authenticated caller lacked the role a route needs.
    pub async fn access_denied(&self, actor: Actor, route: &str, role: &str, required: &str) {
        tracing::warn!(route = %route.escape_debug(), role, required, "access denied");
        let event = Event::AccessDenied {
            route: route.to_owned(),
            role: role.to_owned(),
            required: required.to_owned(),
        };
        self.record(Record::new(event).actor(actor).outcome(Outcome::Denied))
            .await;
    }

    /// An agent was created.
    pub async fn agent_created(
        &self,
        actor: Actor,
        agent: &AgentName,
        model: &str,
        tools: Vec<String>,
    ) {
        let event = Event::AgentCreated {
            model: model.to_owned(),
            tools,
        };
        self.record(
            Record::new(event)
                .agent(agent.clone())
                .actor(actor)
                .outcome(Outcome::Ok),
        )
        .await;
    }

    /// An agent was deleted.
    pub async fn agent_deleted(&self, actor: Actor, agent: &AgentName) {
        self.record(
            Record::new(Event::AgentDeleted {})
                .agent(agent.clone())
                .actor(actor)
                .outcome(Outcome::Ok),
        )
        .await;
    }
}
