//! Starting the chat channels (`[channels.NAME]`) and keeping them in step with the config: their
//! secrets, the shared inbound paths and the channel desk, the adapters' runners, and what a
//! reload changes. The decisions all live in `rampart-channels`.
//!
//! - `webchat` always runs (it is the gateway's own WebSocket): its shared path is on the desk,
//!   where the WebSocket route finds it.
//! - `telegram` runs when `[channels.telegram] enabled = true`, as a runner task.
//!
//! On a reload (`POST /api/config/reload`, SIGHUP) [`Channels::reload`] applies every channel's
//! `allowlist`, `allowed_users`, `rate_limit_per_user`, `default_agent` and the `[[users]]`
//! `channel_bindings` (and, for webchat, the enabled users) from the next message on, and starts
//! or stops Telegram when `enabled` (or `api_base_url`) changed. A restarted Telegram adapter
//! keeps the channel's shared path (so the per-user rate budgets users spent still hold) and
//! resumes polling from the old adapter's offset (so what was answered is not answered again).
//! The bot token is the one resolved at start: a new token needs a restart.

use std::sync::{Arc, Mutex};

use rampart_channels::clock::{OsRandom, SystemClock};
use rampart_channels::{ChannelDesk, Inbound, InboundDeps, Pairing, TelegramChannel, WEBCHAT};
use rampart_config::{ChannelAccess, Config, TelegramConfig};
use rampart_core::Role;
use rampart_gateway::AppState;
use rampart_vault::{SecretString, Setting, VaultError};
use tokio::task::JoinHandle;

use crate::exit::CliError;
use crate::secrets::Secrets;

/// The vault entry and environment variable of the Telegram bot token.
pub(crate) const TELEGRAM_TOKEN_SETTING: Setting<'static> = Setting {
    vault_name: "telegram_bot_token",
    env_var: "TELEGRAM_BOT_TOKEN",
};

/// The principal name of the gateway's own `api_key` (the owner's key): on the webchat
/// allowlist like an enabled `[[users]]` entry.
const GATEWAY_KEY_PRINCIPAL: &str = "api_key";

/// The Telegram adapter, as the start-up and the reloads leave it.
#[derive(Default)]
struct Telegram {
    /// The shared path, kept while the adapter is stopped: a reload that restarts (or stops and
    /// later starts) Telegram hands the new adapter this one, with the settings applied, so the
    /// per-user rate budgets users have spent are not a restart away from fresh.
    inbound: Option<Arc<Inbound>>,
    /// The adapter, while enabled.
    running: Option<Running>,
    /// Where the last stopped adapter would have polled next: the next one resumes from there,
    /// so the Bot API does not hand it again what was already answered.
    offset: i64,
}

/// An enabled Telegram adapter.
struct Running {
    channel: Arc<TelegramChannel>,
    api_base_url: String,
    /// Its runner, once started.
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops the runner; returns the offset a successor resumes from. A poll the runner was in
    /// the middle of is dropped unanswered, so a successor is handed its updates again.
    fn stop(self) -> i64 {
        if let Some(task) = self.task {
            task.abort();
        }
        self.channel.next_offset()
    }
}

/// The chat channels of one gateway. Shared by the start-up, the reload hook and the shutdown.
pub(crate) struct Channels {
    desk: Arc<ChannelDesk>,
    deps: InboundDeps,
    telegram_token: Option<SecretString>,
    /// The Telegram adapter (its runner is spawned by [`Channels::start`] or a reload).
    telegram: Mutex<Telegram>,
}

impl Channels {
    /// Starts the runners of the channels enabled at start (needs the tokio runtime).
    pub(crate) fn start(&self) {
        let mut tg = self.lock();
        let inbound = tg.inbound.clone();
        if let (Some(running), Some(inbound)) = (tg.running.as_mut(), inbound)
            && running.task.is_none()
        {
            running.task = Some(spawn(running.channel.clone(), inbound));
        }
    }

    /// Stops every runner (shutdown).
    pub(crate) fn stop(&self) {
        if let Some(running) = self.lock().running.take() {
            running.stop();
        }
    }

    /// Applies the channel settings of a reloaded `config`; returns what changed, in words
    /// (never an id or a token), or an empty string.
    pub(crate) fn reload(&self, config: &Config) -> String {
        let mut said = Vec::new();
        if let Some(webchat) = self.desk.inbound(WEBCHAT)
            && let Some(change) = webchat.apply(webchat_access(config))
        {
            said.push(format!("webchat: {change}"));
        }
        if let Some(change) = self.reload_telegram(config.channels.telegram.as_ref(), config) {
            said.push(format!("telegram: {change}"));
        }
        said.join("; ")
    }

    fn reload_telegram(&self, tg: Option<&TelegramConfig>, config: &Config) -> Option<String> {
        let wanted = tg.filter(|t| t.enabled);
        let mut state = self.lock();
        let state = &mut *state;
        match (state.running.as_ref(), wanted) {
            (None, None) => None,
            (Some(_), None) => {
                if let Some(running) = state.running.take() {
                    state.offset = running.stop();
                }
                self.desk.remove("telegram");
                tracing::info!("[channels.telegram] stopped by a reload");
                Some("stopped".to_owned())
            }
            (Some(running), Some(tg)) if running.api_base_url == tg.api_base_url => {
                let inbound = state.inbound.as_ref()?;
                inbound.apply(with_bindings(config, "telegram", &tg.access))
            }
            (_, Some(tg)) => {
                let restart = state.running.is_some();
                if let Some(running) = state.running.take() {
                    state.offset = running.stop();
                }
                self.desk.remove("telegram");
                let Some(token) = self.telegram_token.clone() else {
                    tracing::error!(
                        "[channels.telegram] enabled by a reload, but no bot token was available \
                         at start; restart the gateway after storing one"
                    );
                    return Some("not started: no bot token was available at start".to_owned());
                };
                let channel = match TelegramChannel::new(&tg.api_base_url, token) {
                    Ok(c) => Arc::new(c.resume_from(state.offset)),
                    Err(e) => {
                        tracing::error!(error = %e, "[channels.telegram] could not start");
                        return Some("not started: the adapter could not be built".to_owned());
                    }
                };
                let access = with_bindings(config, "telegram", &tg.access);
                let inbound = match &state.inbound {
                    Some(inbound) => {
                        inbound.apply(access);
                        inbound.clone()
                    }
                    None => {
                        let inbound = Arc::new(Inbound::new("telegram", access, self.deps.clone()));
                        state.inbound = Some(inbound.clone());
                        inbound
                    }
                };
                self.desk.insert(inbound.clone());
                state.running = Some(Running {
                    task: Some(spawn(channel.clone(), inbound)),
                    channel,
                    api_base_url: tg.api_base_url.clone(),
                });
                tracing::info!("[channels.telegram] started by a reload");
                Some(if restart { "restarted" } else { "started" }.to_owned())
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Telegram> {
        self.telegram
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn spawn(channel: Arc<TelegramChannel>, inbound: Arc<Inbound>) -> JoinHandle<()> {
    tokio::spawn(rampart_channels::runner::run(
        channel,
        inbound,
        Arc::new(OsRandom::new()),
    ))
}

/// The Telegram bot token: vault `telegram_bot_token` > `bot_token` in the config >
/// `$TELEGRAM_BOT_TOKEN`. Looked up even while the channel is off, so a reload that enables it
/// can start it (and the leak guard knows the token from the start); enabled without a token
/// refuses start-up.
pub(crate) fn telegram_token(
    config: &Config,
    secrets: &Secrets,
) -> Result<Option<SecretString>, CliError> {
    let tg = config.channels.telegram.as_ref();
    let enabled = tg.is_some_and(|t| t.enabled);
    match secrets.resolver().resolve_setting(
        TELEGRAM_TOKEN_SETTING,
        tg.and_then(|t| t.bot_token.as_ref()),
    ) {
        Ok(token) => Ok(Some(token)),
        Err(_) if !enabled => Ok(None),
        Err(VaultError::NotConfigured { .. }) => Err(CliError::usage(anyhow::anyhow!(
            "[channels.telegram] is enabled but no bot token is configured: store it with \
             `rampart vault set telegram_bot_token`, or set bot_token or $TELEGRAM_BOT_TOKEN"
        ))),
        Err(e) => Err(CliError::usage(anyhow::anyhow!(
            "channels.telegram.bot_token: {e}"
        ))),
    }
}

/// Builds the channels over the gateway's runtime, validator, leak guard and audit trail, puts
/// the channel desk into `state` and registers the reload hook. Runners start with
/// [`Channels::start`].
pub(crate) fn prepare(
    config: &Config,
    telegram_token: Option<SecretString>,
    state: &mut AppState,
) -> Result<Arc<Channels>, CliError> {
    let store = state.runtime.store().clone();
    let pairing = Pairing::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(OsRandom::new()),
        state.events.audit().cloned(),
    );
    let deps = InboundDeps::new(
        state.runtime.clone(),
        store,
        pairing.clone(),
        state.validator.clone(),
        state.edge.leak.clone(),
        state.events.audit().cloned(),
    );
    let desk = Arc::new(ChannelDesk::new(pairing));
    desk.insert(Arc::new(Inbound::new(
        WEBCHAT,
        webchat_access(config),
        deps.clone(),
    )));
    let mut telegram = Telegram::default();
    if let Some(tg) = config.channels.telegram.as_ref().filter(|t| t.enabled) {
        // Built now so a bad URL refuses start-up; its runner starts with `Channels::start`.
        let channel = TelegramChannel::new(
            &tg.api_base_url,
            telegram_token
                .clone()
                .unwrap_or_else(|| SecretString::from(String::new())),
        )
        .map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
        if state.runtime.agent(&tg.access.default_agent).is_none() {
            tracing::warn!(
                agent = %tg.access.default_agent,
                "[channels.telegram] default_agent does not exist: messages will get an error reply"
            );
        }
        let inbound = Arc::new(Inbound::new(
            "telegram",
            with_bindings(config, "telegram", &tg.access),
            deps.clone(),
        ));
        desk.insert(inbound.clone());
        telegram = Telegram {
            inbound: Some(inbound),
            running: Some(Running {
                channel: Arc::new(channel),
                api_base_url: tg.api_base_url.clone(),
                task: None,
            }),
            offset: 0,
        };
    }
    state.pairing = Some(desk.clone());
    let channels = Arc::new(Channels {
        desk,
        deps,
        telegram_token,
        telegram: Mutex::new(telegram),
    });
    if let Some(reload) = &state.reload {
        let hook = channels.clone();
        reload.add_hook(Box::new(move |config| hook.reload(config)));
    }
    Ok(channels)
}

/// The webchat allowlist: `[channels.webchat]` plus every enabled `[[users]]` entry with role
/// user or above (by name, the id the WebSocket route gives its principal), the gateway's own
/// `api_key`, and `channel_bindings.webchat` ids. The loopback bypass (`local`) only when listed.
fn webchat_access(config: &Config) -> ChannelAccess {
    let mut access = with_bindings(config, WEBCHAT, &config.channels.webchat.access);
    let names = config
        .users
        .iter()
        .filter(|u| u.enabled && u.role >= Role::User)
        .map(|u| u.name.as_str())
        .chain([GATEWAY_KEY_PRINCIPAL]);
    for name in names {
        if !access.allowed_users.iter().any(|u| u == name) {
            access.allowed_users.push(name.to_owned());
        }
    }
    access
}

/// `access` with every enabled `[[users]]` entry's id on `channel` (its `channel_bindings`)
/// added to `allowed_users`: a person the owner has named in the config is on the allowlist of
/// every channel they are bound to. A disabled user's binding adds nothing.
fn with_bindings(config: &Config, channel: &str, access: &ChannelAccess) -> ChannelAccess {
    let mut access = access.clone();
    for id in config
        .users
        .iter()
        .filter(|u| u.enabled)
        .filter_map(|u| u.channel_bindings.get(channel))
    {
        if !access.allowed_users.contains(id) {
            access.allowed_users.push(id.clone());
        }
    }
    access
}
