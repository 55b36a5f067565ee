//! [`Policy`]: the one place that answers "may this agent make this call now?" — budgets, the loop
//! guard, approvals and taint, in that order, after the capability check.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use rampart_audit::{Actor, ArgsDigest, AuditSink, Decision, Event, Outcome, Record};
use rampart_core::AgentName;
use rampart_store::{ApprovalRow, ApprovalStatus, Store};
use serde_json::Value;

use crate::PolicyError;
use crate::canonical::{call_digest, canonical_json};
use crate::clock::Clock;
use crate::grant::Grant;
use crate::loop_guard::{LoopGuardConfig, LoopVerdict, SessionLoop};
use crate::taint::{SessionTaint, url_host};

/// The default lifetime of an approval request, in seconds.
///
/// # Security
/// An approval is a standing permission to run one exact call; a short life keeps a forgotten
/// one from being used long after the human's context is gone.
pub const DEFAULT_APPROVAL_TTL_SECS: i64 = 15 * 60;

/// The most sessions whose loop-guard and taint state is kept in memory.
///
/// # Security
/// Bounds memory. Past it the oldest-inserted entries are forgotten; the taint flag itself is
/// persisted in the store and re-read, so forgetting never un-taints a session.
pub const MAX_TRACKED_SESSIONS: usize = 10_000;

/// Tool names that write files (counted against `max_file_writes`).
pub const FILE_WRITE_TOOLS: &[&str] = &["file_write", "file_delete"];

/// Tool names that run commands (counted against `max_shell_commands`).
pub const SHELL_TOOLS: &[&str] = &["shell_exec"];

/// Token and call budgets (SPEC R6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Model tokens (input + output) per session.
    pub tokens_per_session: u64,
    /// Model tokens per agent per UTC day, across sessions.
    pub tokens_per_day: u64,
    /// Tool calls per session.
    pub tool_calls_per_session: u64,
}

impl Default for BudgetLimits {
    fn default() -> Self {
        Self {
            tokens_per_session: 500_000,
            tokens_per_day: 2_000_000,
            tool_calls_per_session: 500,
        }
    }
}

/// What the policy is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Tools that always need a human's approval (`[security] approval_required`).
    pub approval_required: BTreeSet<String>,
    /// Seconds an approval request stays usable (`[security] approval_ttl_secs`).
    pub approval_ttl_secs: i64,
    /// Loop-guard thresholds.
    pub loop_guard: LoopGuardConfig,
    /// Budgets.
    pub budgets: BudgetLimits,
    /// Tools whose output is untrusted and taints the session.
    pub untrusted_sources: BTreeSet<String>,
    /// Tools that need approval while the session is tainted.
    pub gated_when_tainted: BTreeSet<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            approval_required: set(&["shell_exec"]),
            approval_ttl_secs: DEFAULT_APPROVAL_TTL_SECS,
            loop_guard: LoopGuardConfig::default(),
            budgets: BudgetLimits::default(),
            untrusted_sources: set(&[
                "web_fetch",
                "file_read",
                "shell_exec",
                "agent_spawn",
                "peer_send",
            ]),
            gated_when_tainted: set(&["shell_exec", "agent_spawn"]),
        }
    }
}

/// One tool call to decide.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The calling agent.
    pub agent: &'a AgentName,
    /// Its session.
    pub session: &'a str,
    /// The tool's name.
    pub tool: &'a str,
    /// The arguments (a JSON object).
    pub args: &'a Value,
    /// The agent's capabilities.
    pub grant: &'a Grant,
}

/// The policy's answer for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Run it.
    Allow {
        /// A warning to show the model with the result (loop guard).
        warning: Option<String>,
        /// The approval this call used, if it needed one.
        approval_id: Option<String>,
    },
    /// Refused by capability or policy (`denied`).
    Deny(String),
    /// Refused by a guard: loop guard, circuit breaker, budget (`blocked`).
    Block(String),
    /// Waiting for a human (`approval_required`).
    ApprovalRequired {
        /// The id for `POST /api/approvals/{id}`.
        approval_id: String,
        /// Why approval is needed.
        reason: String,
    },
}

#[derive(Debug, Default)]
struct SessionState {
    loops: SessionLoop,
    taint: SessionTaint,
}

/// Decides tool calls and model calls. Cheap to share (`Arc`), safe to call concurrently.
#[derive(Debug)]
pub struct Policy {
    cfg: PolicyConfig,
    store: Store,
    clock: Arc<dyn Clock>,
    audit: Option<AuditSink>,
    sessions: Mutex<HashMap<(AgentName, String), SessionState>>,
}

fn key(kind: &str, agent: &AgentName, session: &str) -> String {
    format!("{kind}:{agent}:{session}")
}

impl Policy {
    /// A policy over `store` (approvals and counters live there) reading time from `clock`.
    #[must_use]
    pub fn new(cfg: PolicyConfig, store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            cfg,
            store,
            clock,
            audit: None,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Records approvals, decisions, budget refusals and taint to `sink` from now on.
    #[must_use]
    pub fn with_audit(mut self, sink: AuditSink) -> Self {
        self.audit = Some(sink);
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &PolicyConfig {
        &self.cfg
    }

    fn audit(&self, record: Record) {
        let Some(sink) = self.audit.clone() else {
            return;
        };
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

    fn with_session<T>(
        &self,
        agent: &AgentName,
        session: &str,
        f: impl FnOnce(&mut SessionState) -> T,
    ) -> T {
        let mut map = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let k = (agent.clone(), session.to_owned());
        if !map.contains_key(&k) {
            if map.len() >= MAX_TRACKED_SESSIONS
                && let Some(old) = map.keys().next().cloned()
            {
                map.remove(&old);
            }
            let mut st = SessionState::default();
            // The flag survives restarts and eviction; the source names do not.
            if self
                .store
                .counter(&key("taint", agent, session))
                .unwrap_or(1)
                > 0
            {
                st.taint.add_source("earlier untrusted content");
            }
            map.insert(k.clone(), st);
        }
        let st = map.entry(k).or_default();
        f(st)
    }

    /// Decides one tool call that passed the capability check. Counts it against the budgets
    /// when it is allowed.
    ///
    /// # Errors
    /// Store failures (the caller must treat them as a refusal).
    pub fn check(&self, call: &Call<'_>) -> Result<Verdict, PolicyError> {
        let now = self.clock.now();
        if !call.grant.allows_tool(call.tool) {
            return Ok(Verdict::Deny(format!(
                "tool `{}` is not permitted for this agent",
                call.tool
            )));
        }
        let digest = call_digest(call.tool, call.args);
        // 1. Loop guard and circuit breaker.
        let (loop_verdict, taint) = self.with_session(call.agent, call.session, |st| {
            (
                st.loops.check(&self.cfg.loop_guard, digest),
                st.taint.clone(),
            )
        });
        let warning = match loop_verdict {
            LoopVerdict::Block(reason) => return Ok(Verdict::Block(reason)),
            LoopVerdict::Warn(w) => Some(w),
            LoopVerdict::Ok => None,
        };
        // 2. Budgets, read-only first so a refused call never uses up an approval.
        let budgets = self.budgets_for(call);
        for (scope, k, limit) in &budgets {
            if self.store.counter(k)? >= *limit {
                return Ok(self.over_budget(call.agent, scope));
            }
        }
        // 3. Approvals: listed tools, and taint-gated ones while tainted.
        if let Some(reason) = self.approval_reason(call, &taint) {
            let hex_digest = hex::encode(digest);
            let agent = call.agent.as_str();
            match self
                .store
                .consume_approval(agent, call.session, &hex_digest, now)?
            {
                Some(id) => self
                    .commit_budgets(call, &budgets, now)
                    .map(|()| Verdict::Allow {
                        warning,
                        approval_id: Some(id),
                    }),
                None => self.request_approval(call, &hex_digest, reason, now),
            }
        } else {
            self.commit_budgets(call, &budgets, now)
                .map(|()| Verdict::Allow {
                    warning,
                    approval_id: None,
                })
        }
    }

    fn budgets_for(&self, call: &Call<'_>) -> Vec<(&'static str, String, u64)> {
        let (a, s) = (call.agent, call.session);
        let mut v = vec![(
            "tool_calls",
            key("tool_calls", a, s),
            self.cfg.budgets.tool_calls_per_session,
        )];
        if SHELL_TOOLS.contains(&call.tool) {
            v.push((
                "shell_commands",
                key("shell", a, s),
                u64::from(call.grant.max_shell_commands),
            ));
        }
        if FILE_WRITE_TOOLS.contains(&call.tool) {
            v.push((
                "file_writes",
                key("file_writes", a, s),
                u64::from(call.grant.max_file_writes),
            ));
        }
        v
    }

    fn commit_budgets(
        &self,
        call: &Call<'_>,
        budgets: &[(&'static str, String, u64)],
        now: i64,
    ) -> Result<(), PolicyError> {
        for (scope, k, limit) in budgets {
            if !self.store.try_add_counter(k, 1, *limit, now)? {
                // Lost a race with a concurrent call of the same session.
                return Err(PolicyError::BudgetRace(scope));
            }
        }
        tracing::debug!(agent = %call.agent, tool = call.tool, "policy allowed a call");
        Ok(())
    }

    fn over_budget(&self, agent: &AgentName, scope: &str) -> Verdict {
        self.audit(
            Record::new(Event::BudgetExceeded {
                scope: scope.to_owned(),
            })
            .agent(agent.clone())
            .actor(Actor::Agent(agent.clone()))
            .outcome(Outcome::Blocked),
        );
        Verdict::Block(format!("budget exhausted: {scope} for this session"))
    }

    fn approval_reason(&self, call: &Call<'_>, taint: &SessionTaint) -> Option<String> {
        if self.cfg.approval_required.contains(call.tool) {
            return Some(format!("`{}` always needs a human's approval", call.tool));
        }
        if !taint.is_tainted() {
            return None;
        }
        let label = taint.sources.join(", ");
        if self.cfg.gated_when_tainted.contains(call.tool) {
            return Some(format!(
                "the session is tainted by untrusted content ({label})"
            ));
        }
        if call.tool == "web_fetch" {
            let host = call
                .args
                .get("url")
                .and_then(Value::as_str)
                .and_then(url_host);
            let seen = host.as_ref().is_some_and(|h| taint.seen_hosts.contains(h));
            if !seen {
                return Some(format!(
                    "the session is tainted by untrusted content ({label}) and this host was not \
                     reached before in it"
                ));
            }
        }
        None
    }

    fn request_approval(
        &self,
        call: &Call<'_>,
        hex_digest: &str,
        reason: String,
        now: i64,
    ) -> Result<Verdict, PolicyError> {
        let agent = call.agent.as_str();
        if let Some(id) = self
            .store
            .pending_approval(agent, call.session, hex_digest, now)?
        {
            return Ok(Verdict::ApprovalRequired {
                approval_id: id,
                reason,
            });
        }
        let id = random_id()?;
        self.store.insert_approval(&ApprovalRow {
            id: id.clone(),
            agent: agent.to_owned(),
            session_id: call.session.to_owned(),
            tool: call.tool.to_owned(),
            digest: hex_digest.to_owned(),
            arguments: canonical_json(call.args),
            reason: reason.clone(),
            status: ApprovalStatus::Pending,
            created_at: now,
            expires_at: now.saturating_add(self.cfg.approval_ttl_secs),
            decided_at: None,
        })?;
        self.audit(
            Record::new(Event::ApprovalRequested {
                approval_id: id.clone(),
                tool: call.tool.to_owned(),
                args_sha256: ArgsDigest::of_json(call.args),
            })
            .agent(call.agent.clone())
            .actor(Actor::Agent(call.agent.clone()))
            .outcome(Outcome::ApprovalRequired),
        );
        Ok(Verdict::ApprovalRequired {
            approval_id: id,
            reason,
        })
    }

    /// A human's decision on a pending approval. `by` names who decided (for the audit trail).
    ///
    /// # Errors
    /// [`PolicyError::InvalidApprovalId`], [`PolicyError::ApprovalNotFound`],
    /// [`PolicyError::ApprovalClosed`] when it was decided, used or has expired; store failures.
    pub fn decide(&self, id: &str, approve: bool, by: &str) -> Result<ApprovalRow, PolicyError> {
        if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(PolicyError::InvalidApprovalId);
        }
        let now = self.clock.now();
        let row = self
            .store
            .approval(id)?
            .ok_or(PolicyError::ApprovalNotFound)?;
        let to = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        if !self
            .store
            .transition_approval(id, ApprovalStatus::Pending, to, now)?
        {
            return Err(PolicyError::ApprovalClosed(if row.expires_at <= now {
                "expired"
            } else {
                row.status.as_str()
            }));
        }
        let mut rec = Record::new(Event::ApprovalDecided {
            approval_id: id.to_owned(),
            decision: if approve {
                Decision::Approve
            } else {
                Decision::Deny
            },
        })
        .actor(Actor::User(by.to_owned()))
        .outcome(if approve {
            Outcome::Ok
        } else {
            Outcome::Denied
        });
        if let Ok(agent) = row.agent.parse::<AgentName>() {
            rec = rec.agent(agent);
        }
        self.audit(rec);
        Ok(ApprovalRow {
            status: to,
            decided_at: Some(now),
            ..row
        })
    }

    /// Approvals for the admin API, newest first.
    ///
    /// # Errors
    /// Store failures.
    pub fn approvals(&self, pending_only: bool) -> Result<Vec<ApprovalRow>, PolicyError> {
        Ok(self.store.list_approvals(pending_only)?)
    }

    /// The current time of the policy's clock (for showing expiry).
    #[must_use]
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Tells the policy how a call it allowed ended: output of untrusted sources taints the
    /// session, fetched hosts are remembered.
    pub fn after_call(&self, agent: &AgentName, session: &str, tool: &str, args: &Value, ok: bool) {
        let untrusted = ok && self.cfg.untrusted_sources.contains(tool);
        let host = (ok && tool == "web_fetch")
            .then(|| args.get("url").and_then(Value::as_str).and_then(url_host))
            .flatten();
        let newly = self.with_session(agent, session, |st| {
            if let Some(h) = &host {
                st.taint.add_host(h);
            }
            let was = st.taint.is_tainted();
            if untrusted {
                st.taint.add_source(tool);
            }
            untrusted && !was
        });
        if newly {
            let _ = self
                .store
                .add_counter(&key("taint", agent, session), 1, self.clock.now());
            tracing::info!(agent = %agent, source = tool, "session tainted by untrusted content");
            self.audit(
                Record::new(Event::InjectionDetected {
                    source: format!("taint:{tool}"),
                    categories: vec!["untrusted_content".to_owned()],
                })
                .agent(agent.clone())
                .actor(Actor::Agent(agent.clone()))
                .outcome(Outcome::Ok),
            );
        }
    }

    /// The session's taint label: the untrusted sources it took content from (empty = clean).
    #[must_use]
    pub fn taint(&self, agent: &AgentName, session: &str) -> Vec<String> {
        self.with_session(agent, session, |st| st.taint.sources.clone())
    }

    /// May the session make another model call? Refuses when its session or daily token budget
    /// is spent.
    ///
    /// # Errors
    /// Store failures.
    pub fn admit_model_call(
        &self,
        agent: &AgentName,
        session: &str,
    ) -> Result<Option<String>, PolicyError> {
        let b = self.cfg.budgets;
        if self.store.counter(&key("tokens", agent, session))? >= b.tokens_per_session {
            return Ok(Some(self.over_budget_reason(agent, "session_tokens")));
        }
        if self.store.counter(&self.day_key(agent))? >= b.tokens_per_day {
            return Ok(Some(self.over_budget_reason(agent, "daily_tokens")));
        }
        Ok(None)
    }

    fn over_budget_reason(&self, agent: &AgentName, scope: &str) -> String {
        match self.over_budget(agent, scope) {
            Verdict::Block(r) => r,
            _ => scope.to_owned(),
        }
    }

    fn day_key(&self, agent: &AgentName) -> String {
        format!("day_tokens:{agent}:{}", self.clock.now().div_euclid(86_400))
    }

    /// Counts tokens a model call used against the session's and the day's budgets.
    ///
    /// # Errors
    /// Store failures.
    pub fn record_tokens(
        &self,
        agent: &AgentName,
        session: &str,
        tokens: u64,
    ) -> Result<(), PolicyError> {
        let now = self.clock.now();
        self.store
            .add_counter(&key("tokens", agent, session), tokens, now)?;
        self.store.add_counter(&self.day_key(agent), tokens, now)?;
        Ok(())
    }
}

fn random_id() -> Result<String, PolicyError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| PolicyError::Random)?;
    Ok(hex::encode(b))
}
