//! Turning a loaded configuration into a running gateway's state. Shared by `start` and `demo`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rampart_agent::{ProviderKind as AgentProviderKind, ProviderSpec, Runtime, RuntimeOptions};
use rampart_config::{Config, ProviderKind};
use rampart_gateway::{AppState, Authenticator, Events, GatewayInfo};
use rampart_store::Store;

use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

/// Everything `serve` needs, checked.
pub(crate) struct Prepared {
    pub(crate) state: AppState,
    pub(crate) listen: SocketAddr,
}

/// Loads `config.toml` (exit 2 on any error in it).
pub(crate) fn load_config(home: &Home) -> Result<Config, CliError> {
    Config::load(&home.config).map_err(|e| {
        let hint = if home.config.exists() {
            ""
        } else {
            " (run `rampart init` first)"
        };
        CliError::usage(anyhow::anyhow!("{e}{hint}"))
    })
}

/// Resolves secrets, refuses unsafe binds, opens the store and the agent runtime.
pub(crate) fn prepare(
    home: &Home,
    config: &Config,
    secrets: &Secrets,
) -> Result<Prepared, CliError> {
    let api_key = secrets.api_key(config)?;
    rampart_gateway::check_bind(config.api_listen, api_key.is_some()).map_err(CliError::usage)?;
    if api_key.is_none() {
        tracing::warn!("no api_key configured: every protected route will answer 401");
    }

    let mut providers = HashMap::new();
    for (name, p) in &config.providers {
        let api_key = secrets.provider_key(name, p)?;
        let kind = match p.kind {
            ProviderKind::Openai => AgentProviderKind::OpenAi,
            ProviderKind::Anthropic => AgentProviderKind::Anthropic,
            ProviderKind::Scripted => AgentProviderKind::Scripted,
        };
        providers.insert(
            name.clone(),
            ProviderSpec {
                kind,
                base_url: p.effective_base_url().map(str::to_owned),
                api_key,
            },
        );
    }

    let db = home.db();
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let runtime = Runtime::new(RuntimeOptions {
        providers,
        max_turns: config.agents.max_turns,
        ..RuntimeOptions::new(home.dir.clone(), store)
    })
    .map_err(|e| CliError::usage(anyhow::anyhow!("loading agents: {e}")))?;

    let state = AppState {
        runtime: Arc::new(runtime),
        auth: Arc::new(Authenticator::new(
            api_key.as_ref(),
            config.api_require_auth_local,
        )),
        headers: Arc::new(config.security.headers.clone()),
        events: Events::new(),
        info: Arc::new(GatewayInfo {
            started: Instant::now(),
            vault: secrets.vault_state(),
        }),
    };
    Ok(Prepared {
        state,
        listen: config.api_listen,
    })
}

/// Resolves when SIGINT or SIGTERM arrives.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
