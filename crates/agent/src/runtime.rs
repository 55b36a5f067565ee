//! The runtime: agents on disk, providers, tools, and the one agent loop.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rampart_core::AgentName;
use rampart_store::{Message, SessionId, Store};
use tokio::sync::mpsc;

use crate::AgentError;
use crate::hooks::{
    AllowAll, NoopObserver, Observed, OutboundFilter, PassThrough, ToolPolicy, TurnObserver,
};
use crate::manifest::{AgentManifest, MAX_MANIFEST_BYTES, ManifestError};
use crate::provider::{
    self, DeltaSink, ModelRequest, PROVIDER_REQUEST_TIMEOUT, Provider, ProviderSpec, Usage,
};
use crate::tool::{
    MAX_TOOL_CALLS_PER_RESPONSE, ToolCallRecord, ToolContext, ToolRegistry, ToolStatus,
};
use crate::turn::{
    DEFAULT_MAX_TURNS, MAX_CONTEXT_MESSAGES, MAX_USER_MESSAGE_BYTES, StopReason, TurnEvent,
    TurnOutcome, TurnRequest,
};

/// Everything the runtime needs, in one struct. Build it with [`RuntimeOptions::new`] and override
/// fields with struct-update syntax.
#[derive(Debug)]
pub struct RuntimeOptions {
    /// `$RAMPART_HOME`: manifests live in `agents/NAME/agent.toml`, sandboxes in `workspace/NAME/`.
    pub home: PathBuf,
    /// The session store.
    pub store: Store,
    /// Configured providers by name (`default` is what `model = "default/…"` refers to).
    pub providers: HashMap<String, ProviderSpec>,
    /// Model calls per turn before the turn stops with [`StopReason::MaxTurns`] (at least 1).
    pub max_turns: usize,
    /// The tools (default: the built-ins).
    pub tools: ToolRegistry,
    /// The pre-call policy hook (default: capabilities alone decide).
    pub policy: Arc<dyn ToolPolicy>,
    /// The observer of model and tool calls (default: none; the audit trail plugs in here).
    pub observer: Arc<dyn TurnObserver>,
    /// Redacts provider requests and tool arguments (default: nothing; the leak guard plugs in).
    pub outbound: Arc<dyn OutboundFilter>,
    /// The bound on one provider request, streaming included.
    pub provider_timeout: Duration,
    /// The cap on one tool result as the model sees it.
    pub max_tool_output_bytes: usize,
}

impl RuntimeOptions {
    /// Options with secure defaults and no providers.
    #[must_use]
    pub fn new(home: impl Into<PathBuf>, store: Store) -> Self {
        Self {
            home: home.into(),
            store,
            providers: HashMap::new(),
            max_turns: DEFAULT_MAX_TURNS,
            tools: ToolRegistry::with_builtins(),
            policy: Arc::new(AllowAll),
            observer: Arc::new(NoopObserver),
            outbound: Arc::new(PassThrough),
            provider_timeout: PROVIDER_REQUEST_TIMEOUT,
            max_tool_output_bytes: crate::tool::MAX_TOOL_OUTPUT_BYTES,
        }
    }
}

type SessionLocks = Mutex<HashMap<(AgentName, SessionId), Arc<tokio::sync::Mutex<()>>>>;

struct Inner {
    home: PathBuf,
    store: Store,
    providers: HashMap<String, Arc<dyn Provider>>,
    tools: ToolRegistry,
    policy: Arc<dyn ToolPolicy>,
    observer: Arc<dyn TurnObserver>,
    outbound: Arc<dyn OutboundFilter>,
    max_turns: usize,
    agents: RwLock<BTreeMap<AgentName, Arc<AgentManifest>>>,
    sessions: SessionLocks,
}

/// The agent runtime. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("home", &self.inner.home)
            .field(
                "providers",
                &self.inner.providers.keys().collect::<Vec<_>>(),
            )
            .field("max_turns", &self.inner.max_turns)
            .finish_non_exhaustive()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AgentError> + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| AgentError::Task)?
}

impl Runtime {
    /// Builds the providers and loads every `agents/*/agent.toml` under `home`.
    ///
    /// # Errors
    /// A manifest that does not parse (naming its file and key), a provider with a bad
    /// `base_url`, or I/O errors.
    pub fn new(opts: RuntimeOptions) -> Result<Self, AgentError> {
        let mut providers = HashMap::new();
        for (name, spec) in &opts.providers {
            let p = provider::build(spec, opts.provider_timeout).map_err(|source| {
                AgentError::Provider {
                    provider: name.clone(),
                    source,
                }
            })?;
            providers.insert(name.clone(), p);
        }
        let agents = load_agents(&opts.home)?;
        let mut tools = opts.tools;
        tools.set_max_output_bytes(opts.max_tool_output_bytes);
        Ok(Self {
            inner: Arc::new(Inner {
                home: opts.home,
                store: opts.store,
                providers,
                tools,
                policy: opts.policy,
                observer: opts.observer,
                outbound: opts.outbound,
                max_turns: opts.max_turns.max(1),
                agents: RwLock::new(agents),
                sessions: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The session store this runtime writes to.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// All agents, sorted by name.
    #[must_use]
    pub fn agents(&self) -> Vec<AgentManifest> {
        self.read_agents().values().map(|m| (**m).clone()).collect()
    }

    /// One agent.
    #[must_use]
    pub fn agent(&self, name: &AgentName) -> Option<AgentManifest> {
        self.read_agents().get(name).map(|m| (**m).clone())
    }

    fn read_agents(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<AgentName, Arc<AgentManifest>>> {
        self.inner
            .agents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an agent: writes `agents/NAME/agent.toml` atomically and creates `workspace/NAME/`.
    ///
    /// # Errors
    /// [`AgentError::AgentExists`], [`AgentError::Manifest`] (validation),
    /// [`AgentError::InvalidInput`] when the model's provider is not configured, I/O errors.
    pub async fn create_agent(&self, manifest: AgentManifest) -> Result<AgentManifest, AgentError> {
        manifest.validate()?;
        if !self.inner.providers.contains_key(manifest.provider()) {
            return Err(AgentError::InvalidInput(format!(
                "model {:?} names provider {:?}, which is not configured",
                manifest.model,
                manifest.provider()
            )));
        }
        let text = manifest.to_toml()?;
        let home = self.inner.home.clone();
        let name = manifest.name.clone();
        blocking(move || write_agent(&home, &name, &text)).await?;
        self.inner
            .agents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(manifest.name.clone(), Arc::new(manifest.clone()));
        Ok(manifest)
    }

    /// Deletes an agent: its manifest directory and all its sessions. Its workspace directory is
    /// kept (it holds the user's files); remove `workspace/NAME/` by hand if wanted.
    ///
    /// # Errors
    /// [`AgentError::AgentNotFound`], I/O or store errors.
    pub async fn delete_agent(&self, name: &AgentName) -> Result<(), AgentError> {
        let removed = self
            .inner
            .agents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        if removed.is_none() {
            return Err(AgentError::AgentNotFound(name.clone()));
        }
        let dir = self.inner.home.join("agents").join(name.as_str());
        let store = self.inner.store.clone();
        let name = name.clone();
        blocking(move || {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            store.delete_agent(&name)?;
            Ok(())
        })
        .await
    }

    /// Runs one turn: user message → model → tool calls → tool results → model … → reply, at
    /// most `max_turns` model calls. History is loaded (and repaired) from the store and every
    /// message is persisted as it happens, so an interrupted turn is repaired on the next load.
    ///
    /// `events`, when given, observes the turn (text deltas, tool calls and results, the reply)
    /// and switches the provider to streaming; the loop is the same either way. Turns on one
    /// session run one at a time.
    ///
    /// # Errors
    /// [`AgentError::AgentNotFound`], [`AgentError::InvalidInput`] (empty or oversized message,
    /// bad session id), provider and store failures.
    pub async fn run_turn(
        &self,
        req: TurnRequest,
        events: Option<mpsc::Sender<TurnEvent>>,
    ) -> Result<TurnOutcome, AgentError> {
        if req.message.trim().is_empty() {
            return Err(AgentError::InvalidInput("message is empty".to_owned()));
        }
        if req.message.len() > MAX_USER_MESSAGE_BYTES {
            return Err(AgentError::InvalidInput(format!(
                "message is longer than {MAX_USER_MESSAGE_BYTES} bytes"
            )));
        }
        let manifest = self
            .read_agents()
            .get(&req.agent)
            .cloned()
            .ok_or_else(|| AgentError::AgentNotFound(req.agent.clone()))?;
        let provider_name = manifest.provider().to_owned();
        let provider = self
            .inner
            .providers
            .get(&provider_name)
            .cloned()
            .ok_or_else(|| AgentError::ProviderNotConfigured(provider_name.clone()))?;
        let session_id = match &req.session_id {
            Some(s) => s.parse::<SessionId>()?,
            None => SessionId::generate()?,
        };
        let lock = self.session_lock(&manifest.name, &session_id);
        let guard = lock.lock().await;
        let scope = Scope {
            workspace: self
                .inner
                .home
                .join("workspace")
                .join(manifest.name.as_str()),
            depth: 0,
        };
        let result = self
            .turn(
                &manifest,
                &provider_name,
                provider.as_ref(),
                session_id.clone(),
                req.message,
                events,
                scope,
            )
            .await;
        drop(guard);
        drop(lock);
        self.release_session_lock(&manifest.name, &session_id);
        result
    }

    fn session_lock(&self, agent: &AgentName, id: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry((agent.clone(), id.clone())).or_default().clone()
    }

    fn release_session_lock(&self, agent: &AgentName, id: &SessionId) {
        let mut map = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (agent.clone(), id.clone());
        if map.get(&key).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(&key);
        }
    }

    async fn persist(
        &self,
        agent: &AgentName,
        id: &SessionId,
        msgs: Vec<Message>,
    ) -> Result<(), AgentError> {
        let (store, agent, id) = (self.inner.store.clone(), agent.clone(), id.clone());
        blocking(move || Ok(store.append(&agent, &id, &msgs)?)).await
    }

    /// Runs one turn of a temporary child agent (`agent_spawn`): `manifest` is not registered,
    /// its capabilities were derived by the caller; it works on a fresh session in a fresh
    /// directory of its own, `workspace/.spawned/NAME-ID/` (it neither sees nor changes its
    /// parent's files, nor those of an earlier child of the same name, nor those of a real agent
    /// whose name happens to be `PARENT--NAME`: agent names cannot start with `.`), which is
    /// removed when the turn ends, however it ends.
    async fn run_child(
        &self,
        manifest: AgentManifest,
        depth: u32,
        message: String,
    ) -> Result<TurnOutcome, AgentError> {
        if message.trim().is_empty() {
            return Err(AgentError::InvalidInput("message is empty".to_owned()));
        }
        let provider_name = manifest.provider().to_owned();
        let provider = self
            .inner
            .providers
            .get(&provider_name)
            .cloned()
            .ok_or_else(|| AgentError::ProviderNotConfigured(provider_name.clone()))?;
        let session = SessionId::generate()?;
        let workspace = self
            .inner
            .home
            .join("workspace")
            .join(SPAWNED_DIR)
            .join(format!("{}-{}", manifest.name, &session.as_str()[..16]));
        let dir = workspace.clone();
        blocking(move || {
            use std::os::unix::fs::DirBuilderExt as _;
            Ok(std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?)
        })
        .await?;
        let _cleanup = RemoveOnDrop(workspace.clone());
        let scope = Scope { workspace, depth };
        self.turn(
            &manifest,
            &provider_name,
            provider.as_ref(),
            session,
            message,
            None,
            scope,
        )
        .await
    }

    /// The state machine. One path for streaming and non-streaming: `events` only observes.
    #[allow(clippy::too_many_arguments)] // reason: private; the public entry points take structs
    async fn turn(
        &self,
        manifest: &AgentManifest,
        provider_name: &str,
        provider: &dyn Provider,
        session_id: SessionId,
        message: String,
        events: Option<mpsc::Sender<TurnEvent>>,
        scope: Scope,
    ) -> Result<TurnOutcome, AgentError> {
        let agent = &manifest.name;
        let emit = |e: TurnEvent| {
            let tx = events.clone();
            async move {
                if let Some(tx) = tx {
                    let _ = tx.send(e).await;
                }
            }
        };
        let history = {
            let (store, a, s) = (self.inner.store.clone(), agent.clone(), session_id.clone());
            blocking(move || {
                store.ensure_session(&a, &s)?;
                Ok(store.load_history(&a, &s)?)
            })
            .await?
        };
        if !history.repair.is_clean() {
            self.inner.observer.observe(&Observed::SessionRepaired {
                agent,
                session_id: &session_id,
                report: &history.repair,
            });
        }
        let mut messages = history.messages;
        let user = Message::user(message);
        self.persist(agent, &session_id, vec![user.clone()]).await?;
        messages.push(user);

        let mut ctx = ToolContext::new(
            agent.clone(),
            session_id.clone(),
            scope.workspace,
            manifest.capabilities.clone(),
        );
        ctx.spawn_depth = scope.depth;
        ctx.spawner = Some(Spawner {
            runtime: Arc::downgrade(&self.inner),
            model: manifest.model.clone(),
        });
        let tools = self.inner.tools.specs_for(&manifest.capabilities.tools);
        let deltas = DeltaSink::new(events.clone());
        let mut usage = Usage::default();
        let mut records: Vec<ToolCallRecord> = Vec::new();
        let mut final_text = None;
        let mut refused = None;

        for _ in 0..self.inner.max_turns {
            if let Err(reason) = self.inner.policy.admit_model_call(agent, &session_id) {
                refused = Some(reason);
                break;
            }
            let mut request = ModelRequest {
                model: manifest.model_id().to_owned(),
                system: manifest.system_prompt.clone(),
                messages: context_window(&messages).to_vec(),
                tools: tools.clone(),
                stream: events.is_some(),
            };
            filter_request(self.inner.outbound.as_ref(), &mut request);
            let started = Instant::now();
            let result = provider.complete(&request, &deltas).await;
            self.inner.observer.observe(&Observed::ModelCall {
                agent,
                session_id: &session_id,
                provider: provider_name,
                model: manifest.model_id(),
                usage: result.as_ref().map(|r| r.usage).unwrap_or_default(),
                error: result.as_ref().err(),
                elapsed: started.elapsed(),
            });
            let response = result.map_err(|source| AgentError::Provider {
                provider: provider_name.to_owned(),
                source,
            })?;
            self.inner
                .policy
                .record_usage(agent, &session_id, response.usage);
            usage.add(response.usage);

            let mut calls = response.tool_calls;
            unique_ids(&mut calls);
            let assistant = Message::Assistant {
                content: response.text.clone(),
                tool_calls: calls.clone(),
            };
            self.persist(agent, &session_id, vec![assistant.clone()])
                .await?;
            messages.push(assistant);
            if calls.is_empty() {
                final_text = Some(response.text);
                break;
            }

            let mut results = Vec::with_capacity(calls.len());
            for (i, call) in calls.iter().enumerate() {
                emit(TurnEvent::ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                })
                .await;
                let inv = if i < MAX_TOOL_CALLS_PER_RESPONSE {
                    // The tool sees the arguments with known secrets redacted (SPEC L2).
                    let mut outbound_call = call.clone();
                    self.inner
                        .outbound
                        .json("tool_args", &mut outbound_call.arguments);
                    self.inner
                        .tools
                        .invoke(
                            &ctx,
                            &outbound_call,
                            self.inner.policy.as_ref(),
                            self.inner.observer.as_ref(),
                        )
                        .await
                } else {
                    over_limit(call)
                };
                emit(TurnEvent::ToolResult(inv.record.clone())).await;
                results.push(Message::Tool {
                    tool_call_id: call.id.clone(),
                    name: call.name.clone(),
                    content: inv.content,
                    is_error: inv.is_error,
                });
                records.push(inv.record);
            }
            self.persist(agent, &session_id, results.clone()).await?;
            messages.extend(results);
        }

        let (reply, stop_reason) = match (final_text, refused) {
            (Some(text), _) => (text, StopReason::Completed),
            (None, Some(reason)) => {
                let text = format!("Stopped: {reason}.");
                self.persist(agent, &session_id, vec![Message::assistant(text.clone())])
                    .await?;
                (text, StopReason::Budget)
            }
            (None, None) => {
                let text = format!(
                    "Stopped: the agent was still calling tools after {} model calls in one turn, \
                     the limit for this turn.",
                    self.inner.max_turns
                );
                self.persist(agent, &session_id, vec![Message::assistant(text.clone())])
                    .await?;
                (text, StopReason::MaxTurns)
            }
        };
        let tainted = self.inner.policy.tainted(agent, &session_id);
        let outcome = TurnOutcome {
            tainted,
            reply,
            session_id,
            tool_calls: records,
            usage,
            stop_reason,
        };
        emit(TurnEvent::Reply(outcome.clone())).await;
        Ok(outcome)
    }
}

/// The directory under `workspace/` where spawned children get their throwaway workspaces.
pub(crate) const SPAWNED_DIR: &str = ".spawned";

/// Removes a spawned child's workspace when its turn ends (returned, failed or was cancelled).
/// `remove_dir_all` does not follow symlinks the child may have planted.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not remove a spawned agent's workspace");
        }
    }
}

/// Where a turn runs: the workspace and how deep in a chain of spawns.
struct Scope {
    workspace: PathBuf,
    depth: u32,
}

/// What `agent_spawn` needs to run a child's turn: a weak handle on the runtime (a tool context
/// never keeps the runtime alive) and the calling agent's model, which the child uses too.
#[derive(Clone)]
pub(crate) struct Spawner {
    runtime: std::sync::Weak<Inner>,
    pub(crate) model: String,
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Spawner {
    /// Runs the child's turn (boxed: the turn that called the tool is still on the stack).
    pub(crate) fn run_child(
        &self,
        manifest: AgentManifest,
        depth: u32,
        message: String,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<TurnOutcome, AgentError>> + Send + '_>,
    > {
        Box::pin(async move {
            let inner = self
                .runtime
                .upgrade()
                .ok_or_else(|| AgentError::InvalidInput("the runtime is shutting down".into()))?;
            Runtime { inner }.run_child(manifest, depth, message).await
        })
    }
}

/// Redacts a provider request: the system prompt, every message's text and every tool call's
/// arguments in the history (SPEC L2).
fn filter_request(outbound: &dyn OutboundFilter, request: &mut ModelRequest) {
    const DEST: &str = "llm_request";
    outbound.text(DEST, &mut request.system);
    for m in &mut request.messages {
        match m {
            Message::User { content } | Message::Tool { content, .. } => {
                outbound.text(DEST, content);
            }
            Message::Assistant {
                content,
                tool_calls,
            } => {
                outbound.text(DEST, content);
                for c in tool_calls {
                    outbound.json(DEST, &mut c.arguments);
                }
            }
        }
    }
}

/// The latest [`MAX_CONTEXT_MESSAGES`] messages, starting at a user message so no tool result is
/// separated from its call.
fn context_window(messages: &[Message]) -> &[Message] {
    if messages.len() <= MAX_CONTEXT_MESSAGES {
        return messages;
    }
    let from = messages.len() - MAX_CONTEXT_MESSAGES;
    let start = messages[from..]
        .iter()
        .position(|m| matches!(m, Message::User { .. }))
        .map_or(messages.len() - 1, |p| from + p);
    &messages[start..]
}

/// Makes tool-call ids unique within one answer (a repeated id would make the history unsound).
fn unique_ids(calls: &mut [rampart_store::ToolCallRequest]) {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in calls.iter_mut().enumerate() {
        if !seen.insert(c.id.clone()) {
            c.id = format!("{}_{i}", c.id);
            seen.insert(c.id.clone());
        }
    }
}

fn over_limit(call: &rampart_store::ToolCallRequest) -> crate::tool::ToolInvocation {
    let reason = format!("more than {MAX_TOOL_CALLS_PER_RESPONSE} tool calls in one answer");
    crate::tool::ToolInvocation {
        record: ToolCallRecord {
            id: call.id.clone(),
            name: call.name.clone(),
            status: ToolStatus::Blocked,
            error: Some(reason.clone()),
            approval_id: None,
            truncated: false,
        },
        content: format!("blocked: {reason}"),
        is_error: true,
    }
}

/// Reads `agents/*/agent.toml`. A directory without a manifest is skipped (an interrupted create);
/// a manifest that does not parse, or whose name differs from its directory, is an error.
fn load_agents(home: &Path) -> Result<BTreeMap<AgentName, Arc<AgentManifest>>, AgentError> {
    let mut agents = BTreeMap::new();
    let dir = home.join("agents");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(agents),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        // Symlinks are not followed: a manifest directory must really live under agents/.
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<AgentName>().ok())
        else {
            continue;
        };
        let rel = format!("agents/{name}/agent.toml");
        let file = match std::fs::File::open(entry.path().join("agent.toml")) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(agent = %name, "agent directory without agent.toml, skipped");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut text = String::new();
        file.take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_string(&mut text)?;
        let manifest =
            AgentManifest::from_toml(&text).map_err(|source| AgentError::ManifestFile {
                path: rel.clone(),
                source,
            })?;
        if manifest.name != name {
            return Err(AgentError::ManifestFile {
                path: rel,
                source: ManifestError::Invalid {
                    key: "name",
                    reason: format!(
                        "{:?} does not match its directory {name:?}",
                        manifest.name.as_str()
                    ),
                },
            });
        }
        std::fs::create_dir_all(home.join("workspace").join(name.as_str()))?;
        agents.insert(name, Arc::new(manifest));
    }
    Ok(agents)
}

/// Creates `agents/NAME/` (failing if it exists) and writes `agent.toml` atomically: temp file,
/// fsync, rename, fsync the directory. Creates `workspace/NAME/`.
fn write_agent(home: &Path, name: &AgentName, text: &str) -> Result<(), AgentError> {
    let agents = home.join("agents");
    std::fs::create_dir_all(&agents)?;
    let dir = agents.join(name.as_str());
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(AgentError::AgentExists(name.clone()));
        }
        Err(e) => return Err(e.into()),
    }
    let written = (|| -> std::io::Result<()> {
        rampart_durable::write_atomic(&dir.join("agent.toml"), text.as_bytes(), 0o600)?;
        rampart_durable::sync_dir(&agents)?;
        std::fs::create_dir_all(home.join("workspace").join(name.as_str()))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    Ok(())
}
