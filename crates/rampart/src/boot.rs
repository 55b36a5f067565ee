//! Turning a loaded configuration into a running gateway's state. Shared by `start` and `demo`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rampart_agent::{
    FileOp, FileTool, PolicyHook, ProviderKind as AgentProviderKind, ProviderSpec, Runtime,
    RuntimeOptions, ShellBackend, ShellOptions, ShellTool, SpawnTool, ToolRegistry, WebFetchTool,
};
use rampart_audit::{AuditSink, SinkOptions};
use rampart_config::{Config, ProviderKind};
use rampart_gateway::{
    AppState, AuditObserver, Authenticator, EdgeState, Events, GatewayInfo, LeakFilter,
    ReloadSource,
};
use rampart_guard::InputValidator;
use rampart_guard::LeakGuard;
use rampart_net::{FetchConfig, FetchLimits};
use rampart_policy::{Policy, PolicyConfig, SystemClock};
use rampart_sandbox::WorkspaceOptions;
use rampart_store::Store;
use secrecy::{ExposeSecret as _, SecretString};

use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

/// Everything `serve` needs, checked.
pub(crate) struct Prepared {
    pub(crate) state: AppState,
    pub(crate) listen: SocketAddr,
    /// The audit trail, to flush and checkpoint at shutdown.
    pub(crate) audit: Option<AuditSink>,
    /// The chat channels, started with the gateway and kept in step with reloads.
    pub(crate) channels: Arc<crate::channels::Channels>,
}

impl Prepared {
    /// Serves until `shutdown`, then drains the audit trail and signs its final checkpoint.
    pub(crate) async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), CliError> {
        rampart_gateway::reload::spawn_sighup_reload(self.state.clone());
        self.channels.start();
        crate::peers::start(&self.state).await?;
        let peers = self.state.peers.clone();
        let served = rampart_gateway::serve(listener, self.state, shutdown)
            .await
            .context("serving");
        self.channels.stop();
        if let Some(node) = peers {
            node.shutdown().await;
        }
        if let Some(audit) = self.audit {
            match audit.shutdown().await {
                Ok(Some(cp)) => tracing::info!(seq = cp.seq, "audit trail checkpointed"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "could not checkpoint the audit trail"),
            }
        }
        served.map_err(CliError::from)
    }
}

/// The audit log's path from the config.
pub(crate) fn audit_log_path(home: &Home, config: &Config) -> std::path::PathBuf {
    Config::home_relative(&home.dir, &config.audit.log_path)
}

/// Opens the audit trail (blocking: it reads the log's tail) with the vault's checkpoint key, and
/// writes the public key beside the log (`audit.pub`) for `audit verify --public-key`.
fn open_audit(
    home: &Home,
    config: &Config,
    secrets: &mut Secrets,
) -> Result<Option<AuditSink>, CliError> {
    if !config.audit.enabled {
        tracing::warn!("[audit] enabled = false: security decisions are not being recorded");
        return Ok(None);
    }
    let key = secrets.audit_key()?;
    let public = key.public_key();
    let log = audit_log_path(home, config);
    if let Some(dir) = log.parent() {
        rampart_durable::ensure_private_dir(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let (sink, report) = AuditSink::open(&log, key, SinkOptions::default()).map_err(|e| {
        CliError::usage(anyhow::anyhow!(
            "opening the audit trail {}: {e}",
            log.display()
        ))
    })?;
    if let Some(r) = &report.recovered {
        tracing::warn!(
            ?r,
            "the audit trail's last line was torn by a crash and set aside"
        );
    }
    let pub_path = home.dir.join("audit.pub");
    rampart_durable::write_atomic(&pub_path, format!("{public}\n").as_bytes(), 0o644)
        .with_context(|| format!("writing {}", pub_path.display()))?;
    Ok(Some(sink))
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
    secrets: &mut Secrets,
) -> Result<Prepared, CliError> {
    let api_key = secrets.api_key(config)?;
    let user_keys = config
        .users
        .iter()
        .any(|u| u.enabled && u.api_key_hash.is_some());
    rampart_gateway::check_bind(config.api_listen, api_key.is_some() || user_keys)
        .map_err(CliError::usage)?;
    if api_key.is_none() && !user_keys {
        tracing::warn!("no api_key configured: every protected route will answer 401");
    }

    let webhook = webhook_token(config)?;
    // The known-secret leak guard (SPEC L2): every value the process holds, under its name.
    let mut leak = LeakGuard::builder();
    if let Some(vault) = secrets.vault() {
        for (name, value) in vault.iter() {
            leak.add(name, value.expose_secret());
        }
    }
    if let Some(k) = &api_key {
        leak.add("api_key", k.expose_secret());
    }
    if let Some(t) = &webhook {
        leak.add("webhook_token", t.expose_secret());
    }
    let peer_secret = crate::peers::secret(config, secrets)?;
    if let Some(s) = &peer_secret {
        leak.add("network.shared_secret", s.expose_secret());
    }
    let telegram_token = crate::channels::telegram_token(config, secrets)?;
    if let Some(t) = &telegram_token {
        leak.add("channels.telegram.bot_token", t.expose_secret());
    }

    let mut providers = HashMap::new();
    for (name, p) in &config.providers {
        let api_key = secrets.provider_key(name, p)?;
        if let Some(k) = &api_key {
            leak.add(&format!("providers.{name}.api_key"), k.expose_secret());
        }
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

    if leak.skipped() > 0 {
        tracing::warn!(
            count = leak.skipped(),
            "some secrets are shorter than the leak guard's minimum and are not redacted by value"
        );
    }
    let leak_handle = crate::exit::log_outputs().leak.clone();
    leak_handle.set(leak.build());
    match crate::exit::log_outputs().open_file(&home.dir) {
        Ok(path) => tracing::debug!(path = %path.display(), "logging to file"),
        Err(e) => tracing::warn!(error = %e, "cannot open the log file; logging to stderr only"),
    }

    let db = home.db();
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let audit = open_audit(home, config, secrets)?;
    let peer_node =
        crate::peers::node(config, secrets, peer_secret.as_ref(), &store, audit.clone())?;
    let policy = Arc::new(build_policy(config, store.clone(), audit.clone()));
    let mut options = RuntimeOptions {
        providers,
        max_turns: config.agents.max_turns,
        tools: builtin_tools(home, config),
        policy: Arc::new(PolicyHook::new(policy.clone())),
        ..RuntimeOptions::new(home.dir.clone(), store)
    };
    #[cfg(feature = "plugins")]
    crate::cmd::plugins::register_installed(
        home,
        config,
        secrets,
        audit.as_ref(),
        &mut options.tools,
    )?;
    if let Some(node) = &peer_node {
        options
            .tools
            .register(Arc::new(rampart_agent::PeerSendTool::new(Arc::new(
                rampart_gateway::peers::NodeMessenger(node.clone()),
            ))));
    }
    if let Some(sink) = &audit {
        options.observer = Arc::new(AuditObserver::new(sink.clone()));
    }
    options.outbound = Arc::new(LeakFilter(leak_handle.clone()));
    let runtime = Runtime::new(options)
        .map_err(|e| CliError::usage(anyhow::anyhow!("loading agents: {e}")))?;

    let mut state = AppState {
        runtime: Arc::new(runtime),
        auth: Arc::new(Authenticator::with_users(
            api_key.as_ref(),
            config.api_require_auth_local,
            &config.users,
        )),
        events: Events::new(audit.clone()),
        validator: Arc::new(InputValidator::with_detection(
            config.security.prompt_injection_scan,
        )),
        info: Arc::new(GatewayInfo {
            started: Instant::now(),
            vault: secrets.vault_state(),
        }),
        edge: Arc::new(
            EdgeState::new(&config.edge, leak_handle, webhook.as_ref())
                .with_headers(config.security.headers.clone()),
        ),
        policy: Some(policy),
        reload: Some(Arc::new(ReloadSource::new(home.config.clone()))),
        pairing: None,
        peers: peer_node,
    };
    let channels = crate::channels::prepare(config, telegram_token, &mut state)?;
    Ok(Prepared {
        state,
        listen: config.api_listen,
        audit,
        channels,
    })
}

/// The one policy (approvals, budgets, loop guard, taint) from `[security]`, over the same store
/// and audit trail as the rest of the gateway.
fn build_policy(config: &Config, store: Store, audit: Option<AuditSink>) -> Policy {
    let cfg = PolicyConfig {
        approval_required: config.security.approval_required.iter().cloned().collect(),
        approval_ttl_secs: config.security.approval_ttl_secs,
        ..PolicyConfig::default()
    };
    let policy = Policy::new(cfg, store, Arc::new(SystemClock));
    match audit {
        Some(sink) => policy.with_audit(sink),
        None => policy,
    }
}

/// The built-in tools, configured from `[security]` and `[web.fetch]`. Which of them an agent may
/// call is its manifest's `[capabilities] tools`; the registry checks that on every call.
fn builtin_tools(home: &Home, config: &Config) -> ToolRegistry {
    let mut tools = ToolRegistry::with_builtins();
    let workspace = WorkspaceOptions {
        allow_symlinks: config.security.allow_symlinks,
        ..WorkspaceOptions::default()
    };
    for op in FileOp::ALL {
        tools.register(Arc::new(FileTool::new(
            op,
            home.dir.clone(),
            workspace.clone(),
        )));
    }
    let w = &config.web_fetch;
    let fetch = FetchConfig {
        block_private_ips: w.block_private_ips,
        block_metadata_endpoints: w.block_metadata_endpoints,
        max_redirects: w.max_redirects,
        allowed_hosts: w.allowed_hosts.clone(),
        allow_private: w.allow_private.clone(),
    };
    tools.register(Arc::new(WebFetchTool::new(fetch, FetchLimits::default())));
    let sh = &config.security.shell;
    let backend = shell_backend(&config.security.docker);
    let timeout_secs = match &backend {
        ShellBackend::Docker(d) => {
            tracing::info!(
                engine = d.engine_version(),
                "shell_exec runs in Docker containers"
            );
            config.security.docker.timeout_secs
        }
        ShellBackend::DockerUnavailable(why) => {
            tracing::error!(
                reason = %why,
                "[security.docker] enabled = true, but no Docker engine answered: every \
                 shell_exec call will be refused"
            );
            sh.timeout_secs
        }
        _ => {
            let confinement = rampart_sandbox::exec::detect();
            tracing::info!(confinement = %confinement.summary(), "shell_exec sandbox");
            sh.timeout_secs
        }
    };
    tools.register(Arc::new(ShellTool::new(ShellOptions {
        allowed_programs: sh.allowed_programs.clone(),
        allow_shell: sh.allow_shell,
        env_passthrough: sh.env_passthrough.clone(),
        timeout: std::time::Duration::from_secs(timeout_secs),
        backend,
        ..ShellOptions::default()
    })));
    tools.register(Arc::new(SpawnTool));
    tools
}

/// Where `shell_exec` runs: the process sandbox, or — with `[security.docker] enabled` — a
/// container when a Docker engine answers the start-up probe (bounded by
/// [`rampart_sandbox::exec::DOCKER_PROBE_TIMEOUT`]), else nowhere (every call refused).
pub(crate) fn shell_backend(docker: &rampart_config::DockerConfig) -> ShellBackend {
    if !docker.enabled {
        return ShellBackend::Process;
    }
    let opts = rampart_sandbox::exec::DockerOptions {
        image: docker.image.clone(),
        network: docker.network.clone(),
        memory_limit: docker.memory_limit.clone(),
        cpu_limit: docker.cpu_limit,
        read_only_root: docker.read_only_root,
        pids_limit: docker.pids_limit,
    };
    match rampart_sandbox::exec::DockerRunner::detect(
        rampart_sandbox::exec::docker_client(),
        opts,
        rampart_sandbox::exec::DOCKER_PROBE_TIMEOUT,
    ) {
        Ok(runner) => ShellBackend::Docker(runner),
        Err(why) => ShellBackend::DockerUnavailable(why),
    }
}

/// The webhook token from `[webhook_trigger] token_env` when the trigger is enabled; a missing or
/// short token refuses start-up (exit 2) rather than leaving the route open or silently off.
fn webhook_token(config: &Config) -> Result<Option<SecretString>, CliError> {
    let hook = &config.edge.webhook_trigger;
    if !hook.enabled {
        return Ok(None);
    }
    let token = std::env::var(&hook.token_env).unwrap_or_default();
    if token.len() < 16 {
        return Err(CliError::usage(anyhow::anyhow!(
            "[webhook_trigger] is enabled but ${} does not hold a token of at least 16 characters",
            hook.token_env
        )));
    }
    Ok(Some(SecretString::from(token)))
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
