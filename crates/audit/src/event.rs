//! Every kind of audit event, in one place (SPEC D2).
//!
//! A new layer that needs a new event adds a variant to [`Event`] and its name to [`EventKind`];
//! it never invents a free-form string. The serialized name of each kind is a `snake_case` string
//! (`auth_failed`, `tool_call`, …) that `rampart audit show --filter NAME` matches.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rampart_core::AgentName;
use serde::Serialize;

use crate::AuditError;
use crate::hash::{Hash, tagged_hash};

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal ),* $(,)?) => {
        /// The kind of an audit event: the `event` field of an entry.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventKind {
            $( $(#[$doc])* $variant, )*
        }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];

            /// The serialized name, e.g. `"auth_failed"`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }
        }

        impl FromStr for EventKind {
            type Err = AuditError;
            fn from_str(s: &str) -> Result<Self, AuditError> {
                match s {
                    $($name => Ok(EventKind::$variant),)*
                    _ => Err(AuditError::UnknownEvent(crate::hash::shorten(s, 64).into_owned())),
                }
            }
        }
    };
}

kinds! {
    /// The first entry of every log (seq 0); its hash is the log's identity.
    LogCreated = "log_created",
    /// The sink reopened a log and set aside a torn last line left by a crash.
    LogRecovered = "log_recovered",
    /// An agent was created.
    AgentCreated = "agent_created",
    /// An agent was deleted.
    AgentDeleted = "agent_deleted",
    /// A tool was invoked (or refused, blocked, sent to approval): see the outcome.
    ToolCall = "tool_call",
    /// A file inside an agent workspace was read, written, deleted or listed.
    FileAccess = "file_access",
    /// An outbound network request (host only, never the body).
    NetworkRequest = "network_request",
    /// A call to an LLM provider.
    ModelCall = "model_call",
    /// The configuration changed (reload, key revoked, user disabled, role changed, ...).
    ConfigChange = "config_change",
    /// Authentication failed (bad or missing API key, webhook token, peer handshake).
    AuthFailed = "auth_failed",
    /// An authenticated principal was refused by role (403).
    AccessDenied = "access_denied",
    /// A rate limit refused a request or message.
    RateLimited = "rate_limited",
    /// The input validator detected a prompt injection.
    InjectionDetected = "injection_detected",
    /// A pairing code was issued for a channel.
    PairingCodeIssued = "pairing_code_issued",
    /// A user tried a pairing code (the outcome says whether it worked or locked out).
    PairingAttempt = "pairing_attempt",
    /// A channel message was dropped (not allowlisted, not paired).
    MessageDropped = "message_dropped",
    /// A dangerous tool call is waiting for approval.
    ApprovalRequested = "approval_requested",
    /// An approval was granted or denied.
    ApprovalDecided = "approval_decided",
    /// A token or tool-call budget was exhausted.
    BudgetExceeded = "budget_exceeded",
    /// A known secret was redacted on its way out of the process.
    SecretRedacted = "secret_redacted",
    /// A peer node connected (or failed to: see the outcome).
    PeerConnection = "peer_connection",
    /// A peer handshake or link was refused (wrong secret, identity claim, limits, timeout).
    PeerRefused = "peer_refused",
    /// An authenticated peer link closed (orderly, idle, or a frame that failed its check).
    PeerDisconnected = "peer_disconnected",
    /// A message crossed a peer link (`in` or `out`).
    PeerMessage = "peer_message",
    /// A WASM plugin was installed or loaded, or refused (see the outcome and `reason`).
    PluginLoad = "plugin_load",
    /// The sandbox stopped a WASM plugin call (fuel, deadline, memory limit, trap).
    PluginTrap = "plugin_trap",
    /// The gateway closed a connection whose client took too long to send a request's head or
    /// body (slowloris, slow POST).
    SlowClient = "slow_client",
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It happened / succeeded.
    Ok,
    /// Policy refused it (capability, role, allowlist, signature, ...).
    Denied,
    /// It was attempted and failed, or its input was refused.
    Error,
    /// It waits for a human approval.
    ApprovalRequired,
    /// A guard stopped it (loop guard, budget, lockout, rate limit).
    Blocked,
}

impl Outcome {
    /// The serialized name, e.g. `"approval_required"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Error => "error",
            Self::ApprovalRequired => "approval_required",
            Self::Blocked => "blocked",
        }
    }
}

/// Who caused an event. Never holds a secret: API keys are named by their [`KeyId`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Actor {
    /// Rampart itself (startup, reload, timers).
    System,
    /// A configured user (`[[users]] name`).
    User(String),
    /// A caller identified only by an API key: its fingerprint.
    Key(KeyId),
    /// A chat channel user.
    Channel {
        /// Channel name (`telegram`, `discord`, ...).
        channel: String,
        /// The platform's user id.
        user_id: String,
    },
    /// A peer node.
    Peer(String),
    /// An agent acting on its own (e.g. spawning a child).
    Agent(AgentName),
    /// An unauthenticated remote address.
    Ip(IpAddr),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("system"),
            Self::User(u) => write!(f, "user:{u}"),
            Self::Key(k) => write!(f, "key:{k}"),
            Self::Channel { channel, user_id } => write!(f, "channel:{channel}:{user_id}"),
            Self::Peer(p) => write!(f, "peer:{p}"),
            Self::Agent(a) => write!(f, "agent:{a}"),
            Self::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

/// A public fingerprint of a secret key: the first 8 bytes of a domain-separated SHA-256, in hex.
///
/// # Security
/// Lets the log say *which* key acted without ever holding the key. The fingerprint of a
/// high-entropy key (Rampart's are 32 random bytes) reveals nothing usable about it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The fingerprint of `secret`.
    #[must_use]
    pub fn of(secret: &[u8]) -> Self {
        let h = tagged_hash(b"rampart-audit/key-id/v1", &[secret]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&h.0[..8]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// SHA-256 of a tool call's arguments in canonical JSON: the log proves *which* arguments were
/// used (and approvals bind to them) without storing them, since they may hold private data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(transparent)]
pub struct ArgsDigest(Hash);

impl ArgsDigest {
    /// The digest of `args` (object keys sorted, no whitespace, nothing truncated).
    #[must_use]
    pub fn of_json(args: &serde_json::Value) -> Self {
        let mut buf = Vec::new();
        crate::hash::push_canonical(&mut buf, args, usize::MAX);
        Self(tagged_hash(b"rampart-audit/args/v1", &[&buf]))
    }

    /// The digest as a [`Hash`].
    #[must_use]
    pub fn hash(&self) -> Hash {
        self.0
    }
}

/// What a file access did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FileOp {
    /// Read a file.
    Read,
    /// Wrote (created or replaced) a file.
    Write,
    /// Deleted a file.
    Delete,
    /// Listed a directory.
    List,
}

/// An approval decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// The call may run (with exactly the approved arguments).
    Approve,
    /// The call is refused.
    Deny,
    /// Nobody decided before the approval expired.
    Expired,
}

/// A typed audit event: the `event` name and the `detail` object of an entry.
///
/// The agent, the actor and the outcome are not part of the event; they come with it in a
/// [`Record`]. String fields from untrusted sources are stored JSON-escaped and shortened to
/// [`crate::MAX_DETAIL_STRING`] bytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// See [`EventKind::LogCreated`].
    LogCreated {
        /// Random nonce that makes every log's first entry (and so its identity) unique.
        nonce: String,
        /// The checkpoint public key the log was created with (`ed25519:…`).
        public_key: String,
        /// Entry format version.
        format: u32,
    },
    /// See [`EventKind::LogRecovered`].
    LogRecovered {
        /// How many bytes of a torn last line were removed.
        torn_bytes: u64,
        /// Where those bytes were moved (file name beside the log).
        moved_to: String,
    },
    /// See [`EventKind::AgentCreated`].
    AgentCreated {
        /// The agent's model (`provider/model`).
        model: String,
        /// The tools it may use.
        tools: Vec<String>,
    },
    /// See [`EventKind::AgentDeleted`].
    AgentDeleted {},
    /// See [`EventKind::ToolCall`].
    ToolCall {
        /// Tool name.
        tool: String,
        /// Digest of the exact arguments.
        args_sha256: ArgsDigest,
        /// Why it was refused or failed, if it was.
        reason: Option<String>,
    },
    /// See [`EventKind::FileAccess`].
    FileAccess {
        /// What was done.
        op: FileOp,
        /// Workspace-relative path.
        path: String,
    },
    /// See [`EventKind::NetworkRequest`].
    NetworkRequest {
        /// Destination host.
        host: String,
        /// Destination port, when known.
        port: Option<u16>,
        /// HTTP method.
        method: String,
    },
    /// See [`EventKind::ModelCall`].
    ModelCall {
        /// Provider name from the config.
        provider: String,
        /// Model name.
        model: String,
        /// Prompt tokens.
        input_tokens: u64,
        /// Completion tokens.
        output_tokens: u64,
    },
    /// See [`EventKind::ConfigChange`].
    ConfigChange {
        /// What triggered it (`reload`, `sighup`, `api`, `cli`).
        source: String,
        /// What changed, in words (never a secret value).
        summary: String,
    },
    /// See [`EventKind::AuthFailed`].
    AuthFailed {
        /// `bearer`, `query_token`, `webhook`, `peer`, ...
        method: String,
        /// `missing`, `invalid`, `disabled_user`, ...
        reason: String,
        /// The route or channel it was for.
        target: String,
    },
    /// See [`EventKind::AccessDenied`].
    AccessDenied {
        /// The route.
        route: String,
        /// The caller's role.
        role: String,
        /// The minimum role the route needs.
        required: String,
    },
    /// See [`EventKind::RateLimited`].
    RateLimited {
        /// `ip`, `user`, `websocket`, `webhook`, `pairing`.
        scope: String,
        /// The limited key (an address or user id).
        key: String,
    },
    /// See [`EventKind::InjectionDetected`].
    InjectionDetected {
        /// Where the text came from (`api`, `channel:telegram`, `tool:web_fetch`, ...).
        source: String,
        /// Detected pattern categories.
        categories: Vec<String>,
    },
    /// See [`EventKind::PairingCodeIssued`].
    PairingCodeIssued {
        /// The channel.
        channel: String,
    },
    /// See [`EventKind::PairingAttempt`].
    PairingAttempt {
        /// The channel.
        channel: String,
        /// The platform user id that tried.
        user_id: String,
    },
    /// See [`EventKind::MessageDropped`].
    MessageDropped {
        /// The channel.
        channel: String,
        /// The sender's platform user id.
        user_id: String,
        /// `not_allowlisted`, `not_paired`, `locked_out`, ...
        reason: String,
    },
    /// See [`EventKind::ApprovalRequested`].
    ApprovalRequested {
        /// Approval id.
        approval_id: String,
        /// Tool waiting for it.
        tool: String,
        /// Digest of the exact arguments the approval binds to.
        args_sha256: ArgsDigest,
    },
    /// See [`EventKind::ApprovalDecided`].
    ApprovalDecided {
        /// Approval id.
        approval_id: String,
        /// The decision.
        decision: Decision,
    },
    /// See [`EventKind::BudgetExceeded`].
    BudgetExceeded {
        /// `session_tokens`, `daily_tokens`, `tool_calls`, `shell_commands`, `file_writes`.
        scope: String,
    },
    /// See [`EventKind::SecretRedacted`].
    SecretRedacted {
        /// Where the secret was about to go (`llm_request`, `tool_args`, `reply`, `log`, ...).
        destination: String,
        /// The secret's name in the vault (never its value).
        secret_name: String,
    },
    /// See [`EventKind::PeerConnection`].
    PeerConnection {
        /// Peer node name (as claimed, if authentication failed).
        node: String,
        /// Peer address.
        addr: String,
        /// `in` or `out`.
        direction: String,
    },
    /// See [`EventKind::PeerRefused`].
    PeerRefused {
        /// The claimed node name, empty when the handshake failed before any claim.
        node: String,
        /// Peer address.
        addr: String,
        /// `in` or `out`.
        direction: String,
        /// Why (`handshake_failed`, `identity_mismatch`, `handshake_timeout`, ...).
        reason: String,
    },
    /// See [`EventKind::PeerDisconnected`].
    PeerDisconnected {
        /// Peer node name.
        node: String,
        /// Peer address.
        addr: String,
        /// `in` or `out`.
        direction: String,
        /// Why (`closed_by_peer`, `frame_authentication_failed`, `idle_timeout`, ...).
        reason: String,
    },
    /// See [`EventKind::PeerMessage`].
    PeerMessage {
        /// `agent@node` of the sender.
        from: String,
        /// `agent@node` of the receiver.
        to: String,
        /// `in` or `out`.
        direction: String,
    },
    /// See [`EventKind::PluginLoad`].
    PluginLoad {
        /// The plugin's name (as its manifest claims it, when refused).
        plugin: String,
        /// Its version, when the manifest parsed.
        version: String,
        /// SHA-256 of its code, hex.
        code_sha256: String,
        /// The trusted publisher key that signed it; empty when unsigned or refused.
        publisher: String,
        /// Why it was refused (`unsigned`, `untrusted_key`, `bad_signature`, ...); empty if not.
        reason: String,
    },
    /// See [`EventKind::PluginTrap`].
    PluginTrap {
        /// The plugin.
        plugin: String,
        /// The tool called.
        tool: String,
        /// `out_of_fuel`, `deadline`, `memory_limit`, `trap`, ...
        reason: String,
    },
    /// See [`EventKind::SlowClient`].
    SlowClient {
        /// What was unfinished at the deadline: `head` or `body`.
        stage: String,
    },
}

impl Event {
    /// The event's kind.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        match self {
            Self::LogCreated { .. } => EventKind::LogCreated,
            Self::LogRecovered { .. } => EventKind::LogRecovered,
            Self::AgentCreated { .. } => EventKind::AgentCreated,
            Self::AgentDeleted {} => EventKind::AgentDeleted,
            Self::ToolCall { .. } => EventKind::ToolCall,
            Self::FileAccess { .. } => EventKind::FileAccess,
            Self::NetworkRequest { .. } => EventKind::NetworkRequest,
            Self::ModelCall { .. } => EventKind::ModelCall,
            Self::ConfigChange { .. } => EventKind::ConfigChange,
            Self::AuthFailed { .. } => EventKind::AuthFailed,
            Self::AccessDenied { .. } => EventKind::AccessDenied,
            Self::RateLimited { .. } => EventKind::RateLimited,
            Self::InjectionDetected { .. } => EventKind::InjectionDetected,
            Self::PairingCodeIssued { .. } => EventKind::PairingCodeIssued,
            Self::PairingAttempt { .. } => EventKind::PairingAttempt,
            Self::MessageDropped { .. } => EventKind::MessageDropped,
            Self::ApprovalRequested { .. } => EventKind::ApprovalRequested,
            Self::ApprovalDecided { .. } => EventKind::ApprovalDecided,
            Self::BudgetExceeded { .. } => EventKind::BudgetExceeded,
            Self::SecretRedacted { .. } => EventKind::SecretRedacted,
            Self::PeerConnection { .. } => EventKind::PeerConnection,
            Self::PeerRefused { .. } => EventKind::PeerRefused,
            Self::PeerDisconnected { .. } => EventKind::PeerDisconnected,
            Self::PeerMessage { .. } => EventKind::PeerMessage,
            Self::PluginLoad { .. } => EventKind::PluginLoad,
            Self::PluginTrap { .. } => EventKind::PluginTrap,
            Self::SlowClient { .. } => EventKind::SlowClient,
        }
    }

    /// A tool call event, digesting `args` so they are never stored.
    #[must_use]
    pub fn tool_call(tool: &str, args: &serde_json::Value, reason: Option<&str>) -> Self {
        Self::ToolCall {
            tool: tool.to_owned(),
            args_sha256: ArgsDigest::of_json(args),
            reason: reason.map(str::to_owned),
        }
    }

    /// The `detail` object as canonical JSON (sorted keys, long strings shortened).
    pub(crate) fn detail_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        // Serializing these plain structs to a Value cannot fail (no maps with non-string keys).
        let detail = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("detail"),
            _ => None,
        };
        match detail {
            Some(d @ serde_json::Value::Object(_)) => {
                crate::hash::push_canonical(&mut out, &d, crate::MAX_DETAIL_STRING);
            }
            _ => out.extend_from_slice(b"{}"),
        }
        out
    }
}

/// One event with its context, ready to be recorded by [`crate::AuditSink::record`].
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// What happened.
    pub event: Event,
    /// The agent concerned, if any.
    pub agent: Option<AgentName>,
    /// Who caused it.
    pub actor: Actor,
    /// How it ended.
    pub outcome: Outcome,
}

impl Record {
    /// `event` by [`Actor::System`], no agent, outcome [`Outcome::Ok`].
    #[must_use]
    pub fn new(event: Event) -> Self {
        Self {
            event,
            agent: None,
            actor: Actor::System,
            outcome: Outcome::Ok,
        }
    }

    /// Sets the agent.
    #[must_use]
    pub fn agent(mut self, agent: AgentName) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// Sets the outcome.
    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}

impl From<Event> for Record {
    fn from(event: Event) -> Self {
        Self::new(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Event> {
        let d = ArgsDigest::of_json(&serde_json::json!({"command": "ls"}));
        let s = || "x".to_owned();
        vec![
            Event::LogCreated {
                nonce: s(),
                public_key: s(),
                format: 1,
            },
            Event::LogRecovered {
                torn_bytes: 3,
                moved_to: s(),
            },
            Event::AgentCreated {
                model: s(),
                tools: vec![s()],
            },
            Event::AgentDeleted {},
            Event::ToolCall {
                tool: s(),
                args_sha256: d,
                reason: None,
            },
            Event::FileAccess {
                op: FileOp::Read,
                path: s(),
            },
            Event::NetworkRequest {
                host: s(),
                port: Some(443),
                method: s(),
            },
            Event::ModelCall {
                provider: s(),
                model: s(),
                input_tokens: 1,
                output_tokens: 2,
            },
            Event::ConfigChange {
                source: s(),
                summary: s(),
            },
            Event::AuthFailed {
                method: s(),
                reason: s(),
                target: s(),
            },
            Event::AccessDenied {
                route: s(),
                role: s(),
                required: s(),
            },
            Event::RateLimited {
                scope: s(),
                key: s(),
            },
            Event::InjectionDetected {
                source: s(),
                categories: vec![s()],
            },
            Event::PairingCodeIssued { channel: s() },
            Event::PairingAttempt {
                channel: s(),
                user_id: s(),
            },
            Event::MessageDropped {
                channel: s(),
                user_id: s(),
                reason: s(),
            },
            Event::ApprovalRequested {
                approval_id: s(),
                tool: s(),
                args_sha256: d,
            },
            Event::ApprovalDecided {
                approval_id: s(),
                decision: Decision::Approve,
            },
            Event::BudgetExceeded { scope: s() },
            Event::SecretRedacted {
                destination: s(),
                secret_name: s(),
            },
            Event::PeerConnection {
                node: s(),
                addr: s(),
                direction: s(),
            },
            Event::PeerRefused {
                node: s(),
                addr: s(),
                direction: s(),
                reason: s(),
            },
            Event::PeerDisconnected {
                node: s(),
                addr: s(),
                direction: s(),
                reason: s(),
            },
            Event::PeerMessage {
                from: s(),
                to: s(),
                direction: s(),
            },
            Event::PluginLoad {
                plugin: s(),
                version: s(),
                code_sha256: s(),
                publisher: s(),
                reason: s(),
            },
            Event::PluginTrap {
                plugin: s(),
                tool: s(),
                reason: s(),
            },
            Event::SlowClient { stage: s() },
        ]
    }

    #[test]
    fn kind_names_match_serde_tags_and_cover_every_kind() {
        let events = samples();
        assert_eq!(events.len(), EventKind::ALL.len());
        for (e, k) in events.iter().zip(EventKind::ALL) {
            assert_eq!(e.kind(), *k);
            let v = serde_json::to_value(e).unwrap();
            assert_eq!(v["event"], k.as_str());
            assert!(e.detail_json().starts_with(b"{"));
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), *k);
        }
        assert!("auth_failed".parse::<EventKind>().is_ok());
        assert!("no_such_event".parse::<EventKind>().is_err());
    }

    #[test]
    fn actor_never_holds_the_key() {
        let secret = b"sk-very-secret-api-key-0123456789";
        let text = Actor::Key(KeyId::of(secret)).to_string();
        assert!(text.starts_with("key:") && text.len() == 4 + 16);
        assert!(!text.contains("secret"));
        assert_eq!(KeyId::of(secret), KeyId::of(secret));
        assert_ne!(KeyId::of(secret), KeyId::of(b"other"));
    }

    #[test]
    fn tool_args_are_digested_not_stored() {
        let e = Event::tool_call(
            "shell_exec",
            &serde_json::json!({"command": "cat secret.txt"}),
            None,
        );
        let detail = String::from_utf8(e.detail_json()).unwrap();
        assert!(!detail.contains("secret.txt"), "{detail}");
        // Key order does not change the digest.
        let a = serde_json::json!({"a": 1, "b": 2});
        let b: serde_json::Value = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        assert_eq!(ArgsDigest::of_json(&a), ArgsDigest::of_json(&b));
    }
}
