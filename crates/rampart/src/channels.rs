//! Starting the chat channels (`[channels.NAME]`): their secrets, the shared inbound path and
//! the pairing desk, and the adapters' runners. The decisions all live in `rampart-channels`.

use std::sync::Arc;

use rampart_channels::clock::{OsRandom, SystemClock};
use rampart_channels::{Channel, Inbound, InboundDeps, Pairing, PairingDesk, TelegramChannel};
use rampart_config::Config;
use rampart_gateway::AppState;
use rampart_vault::{SecretString, Setting, VaultError};

use crate::exit::CliError;
use crate::secrets::Secrets;

/// The vault entry and environment variable of the Telegram bot token.
pub(crate) const TELEGRAM_TOKEN_SETTING: Setting<'static> = Setting {
    vault_name: "telegram_bot_token",
    env_var: "TELEGRAM_BOT_TOKEN",
};

/// The enabled channels, ready to run.
#[derive(Default)]
pub(crate) struct ChannelSet {
    runners: Vec<(Arc<dyn Channel>, Arc<Inbound>)>,
}

impl ChannelSet {
    /// Starts every channel's runner; the handles abort them at shutdown.
    pub(crate) fn spawn(self) -> Vec<tokio::task::JoinHandle<()>> {
        self.runners
            .into_iter()
            .map(|(channel, inbound)| {
                tokio::spawn(rampart_channels::runner::run(
                    channel,
                    inbound,
                    Arc::new(OsRandom::new()),
                ))
            })
            .collect()
    }
}

/// The Telegram bot token when `[channels.telegram]` is enabled: vault `telegram_bot_token` >
/// `bot_token` in the config > `$TELEGRAM_BOT_TOKEN`. Enabled without a token refuses start-up.
pub(crate) fn telegram_token(
    config: &Config,
    secrets: &Secrets,
) -> Result<Option<SecretString>, CliError> {
    let Some(tg) = config.channels.telegram.as_ref().filter(|t| t.enabled) else {
        return Ok(None);
    };
    match secrets
        .resolver()
        .resolve_setting(TELEGRAM_TOKEN_SETTING, tg.bot_token.as_ref())
    {
        Ok(token) => Ok(Some(token)),
        Err(VaultError::NotConfigured { .. }) => Err(CliError::usage(anyhow::anyhow!(
            "[channels.telegram] is enabled but no bot token is configured: store it with \
             `rampart vault set telegram_bot_token`, or set bot_token or $TELEGRAM_BOT_TOKEN"
        ))),
        Err(e) => Err(CliError::usage(anyhow::anyhow!(
            "channels.telegram.bot_token: {e}"
        ))),
    }
}

/// Builds the enabled channels over the gateway's runtime, validator, leak guard and audit
/// trail, and puts the pairing desk into `state`.
pub(crate) fn prepare(
    config: &Config,
    telegram_token: Option<SecretString>,
    state: &mut AppState,
) -> Result<ChannelSet, CliError> {
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
    let mut set = ChannelSet::default();
    let mut names = Vec::new();
    if let (Some(tg), Some(token)) = (
        config.channels.telegram.as_ref().filter(|t| t.enabled),
        telegram_token,
    ) {
        let channel = TelegramChannel::new(&tg.api_base_url, token)
            .map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
        if state.runtime.agent(&tg.access.default_agent).is_none() {
            tracing::warn!(
                agent = %tg.access.default_agent,
                "[channels.telegram] default_agent does not exist: messages will get an error reply"
            );
        }
        let inbound = Inbound::new(
            "telegram",
            with_bindings(config, "telegram", &tg.access),
            deps,
        );
        set.runners.push((Arc::new(channel), Arc::new(inbound)));
        names.push("telegram");
    }
    if !names.is_empty() {
        state.pairing = Some(Arc::new(PairingDesk::new(pairing, names)));
    }
    Ok(set)
}

/// `access` with every enabled `[[users]]` entry's id on `channel` (its `channel_bindings`)
/// added to `allowed_users`: a person the owner has named in the config is on the allowlist of
/// every channel they are bound to. A disabled user's binding adds nothing.
fn with_bindings(
    config: &Config,
    channel: &str,
    access: &rampart_config::ChannelAccess,
) -> rampart_config::ChannelAccess {
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
