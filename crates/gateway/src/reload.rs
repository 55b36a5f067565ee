//! Reloading the configuration without a restart (SPEC M2): `POST /api/config/reload` (owner)
//! and SIGHUP both land in [`reload`].
//!
//! What a reload applies at once:
//! - `[[users]]` (who may call, with which role and key) and `api_require_auth_local`. A
//!   disabled user, a changed key or a lower role is refused from the next request on, and that
//!   principal's open WebSockets are closed.
//! - The edge settings ([`crate::EdgeSettings`]): `api_rate_limit`, `api_rate_burst`,
//!   `[webhook_trigger] rate_limit_per_minute`, `trusted_proxies`, `ws_allowed_origins` and
//!   `[security.headers]`. A limiter whose quota changed starts afresh (every client's bucket is
//!   full under the new numbers); an unchanged one keeps its buckets.
//! - Whatever the [`ReloadHook`]s added by the parts outside the gateway apply: the binary's
//!   hook applies each chat channel's `allowlist`, `allowed_users`, `rate_limit_per_user` and
//!   `default_agent`, the `[[users]] channel_bindings`, and starts, stops or restarts Telegram
//!   when its `enabled` or `api_base_url` changed (the bot token stays the one read at start).
//!
//! Every other setting (listen address, providers, the vault, the gateway's `api_key`, the
//! Telegram bot token, the webhook token and whether the trigger is enabled) is read at start and applies at the next
//! start; the `config_change` event says so.
//!
//! A config that does not load (syntax, unknown key, bad value) changes nothing: the old
//! configuration stays, the caller gets the error naming the file, line and key, and the audit
//! trail a `config_change` entry with outcome `error`.

use std::path::PathBuf;

use rampart_audit::{Actor, Event, Outcome, Record};
use rampart_config::Config;

use crate::{ApiError, AppState};

/// A part outside the gateway crate that applies its own settings from a reloaded
/// configuration (the chat channels, for one). It is called with the new configuration after it
/// loaded and the gateway's own parts were applied, and returns what it changed, in words, for
/// the summary and the `config_change` event (never a secret). It runs inside the tokio runtime,
/// so it may spawn and abort tasks.
pub type ReloadHook = Box<dyn Fn(&Config) -> String + Send + Sync>;

/// Where the configuration is re-read from. One reload runs at a time.
pub struct ReloadSource {
    path: PathBuf,
    running: tokio::sync::Mutex<()>,
    hooks: std::sync::Mutex<Vec<ReloadHook>>,
}

impl std::fmt::Debug for ReloadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadSource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ReloadSource {
    /// Reloads re-read `path` (the `config.toml` the gateway started with).
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            running: tokio::sync::Mutex::new(()),
            hooks: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Adds `hook`, called on every successful reload, after the ones added before it.
    pub fn add_hook(&self, hook: ReloadHook) {
        self.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(hook);
    }

    fn run_hooks(&self, config: &Config) -> Vec<String> {
        self.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|hook| hook(config))
            .filter(|said| !said.is_empty())
            .collect()
    }
}

/// What a reload did.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ReloadReport {
    /// How many `[[users]]` the new configuration has.
    pub users: usize,
    /// The change, in words (user names and roles; never a key or hash).
    pub summary: String,
    /// How many open WebSockets were closed because their principal lost access.
    pub closed_websockets: usize,
}

/// Re-reads the configuration and applies what can change at run time.
///
/// # Errors
/// 404 `not_found` when the gateway has no [`ReloadSource`]; 400 `invalid_input` naming the file,
/// line and key when the new configuration does not load (the old one stays in force).
pub async fn reload(
    state: &AppState,
    source: &str,
    actor: Actor,
) -> Result<ReloadReport, ApiError> {
    let Some(from) = state.reload.clone() else {
        return Err(ApiError::not_found(
            "this gateway was not started from a config file",
        ));
    };
    let _one_at_a_time = from.running.lock().await;
    let path = from.path.clone();
    let loaded = tokio::task::spawn_blocking(move || Config::load(&path))
        .await
        .map_err(|_| ApiError::internal())?;
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            // ConfigError messages name file, line and key and never a secret value.
            let message = format!("the configuration was not reloaded: {e}");
            tracing::warn!(source, error = %e, "reload refused; the old configuration stays");
            record(state, source, actor, Outcome::Error, message.clone()).await;
            return Err(ApiError::invalid_input(message));
        }
    };
    let swap = state
        .auth
        .swap(&config.users, config.api_require_auth_local);
    let mut summary = swap.summary;
    let edge = state.edge.apply(&config.edge, &config.security.headers);
    if !edge.is_empty() {
        summary.push_str("; edge: ");
        summary.push_str(&edge.join(", "));
    }
    if !swap.closed.is_empty() {
        summary.push_str(&format!(
            "; closed {} WebSocket(s) of {}",
            swap.closed.len(),
            swap.closed.join(", ")
        ));
    }
    for said in from.run_hooks(&config) {
        summary.push_str("; ");
        summary.push_str(&said);
    }
    summary.push_str("; other settings apply at the next start");
    tracing::info!(source, summary = %summary, "configuration reloaded");
    record(state, source, actor, Outcome::Ok, summary.clone()).await;
    Ok(ReloadReport {
        users: config.users.len(),
        summary,
        closed_websockets: swap.closed.len(),
    })
}

async fn record(state: &AppState, source: &str, actor: Actor, outcome: Outcome, summary: String) {
    let event = Event::ConfigChange {
        source: source.to_owned(),
        summary,
    };
    state
        .events
        .record(Record::new(event).actor(actor).outcome(outcome))
        .await;
}

/// Reloads on every SIGHUP for the life of the process (unix; elsewhere it does nothing). Needs a
/// tokio runtime.
pub fn spawn_sighup_reload(state: AppState) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with POST /api/config/reload");
                return;
            }
        };
        while hup.recv().await.is_some() {
            // A failure is logged and audited inside; the old configuration stays.
            let _ = reload(&state, "sighup", Actor::System).await;
        }
    });
    #[cfg(not(unix))]
    drop(state);
}
