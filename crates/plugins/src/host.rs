//! The wasmtime host: one [`Engine`] with fuel and epoch interruption, an epoch ticker thread,
//! and per call a fresh [`Store`] with its own fuel, deadline and resource limiter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_config::WasmConfig;
use rampart_net::{FetchConfig, FetchLimits, FetchPolicy, Fetcher, Resolver, SystemResolver};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use wasmtime::{
    AsContextMut, Caller, Config, Engine, Extern, ExternType, InstancePre, Linker, Memory, Module,
    ResourceLimiter, Store, Trap, TypedFunc, ValType,
};

use crate::abi::{
    EXPORT_ALLOC, EXPORT_CALL, EXPORT_MEMORY, HOST_MODULE, MAX_FETCH_REQUEST_BYTES,
    MAX_FETCHES_PER_CALL, MAX_INPUT_BYTES, MAX_KV_ENTRIES, MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES,
    MAX_LOG_BYTES, MAX_LOG_LINES_PER_CALL, MAX_OUTPUT_BYTES, MAX_TABLE_ELEMENTS, pack, packed,
};
use crate::manifest::{HostFunction, Manifest};
use crate::{PluginError, sign};

mod imports;
use imports::{link, read_memory, write_guest};

/// How often the ticker advances the engine's epoch.
///
/// # Security
/// The epoch deadline is counted in ticks, so this is the granularity of
/// `[security.wasm] epoch_timeout_ms`: a call may overrun its deadline by about one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest `.wasm` file accepted.
///
/// # Security
/// The code is compiled by Cranelift before it runs; compile time and memory grow with it.
pub const MAX_CODE_BYTES: usize = 16 * 1024 * 1024;

/// The one wasmtime engine of a process, and the thread that advances its epoch.
///
/// Cheap to clone. Dropping the last clone stops the ticker thread.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    engine: Engine,
    limits: WasmConfig,
    stop: Arc<AtomicBool>,
}

impl Drop for HostInner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// What the owner grants one plugin, and the services its host functions use.
#[derive(Clone)]
#[non_exhaustive]
pub struct Grant {
    /// Host functions granted (`[plugins.grants.NAME] host_functions`); the plugin gets those
    /// it also requests.
    pub host_functions: BTreeSet<HostFunction>,
    /// Secret values by the manifest's secret names (resolved by the caller).
    pub secrets: BTreeMap<String, SecretString>,
    /// The `[web.fetch]` rules; the manifest's `hosts` narrow them further.
    pub fetch: FetchConfig,
    /// The fetch size and time limits.
    pub fetch_limits: FetchLimits,
    /// The resolver (tests plug in their own).
    pub resolver: Arc<dyn Resolver>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("host_functions", &self.host_functions)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("fetch", &self.fetch)
            .finish_non_exhaustive()
    }
}

impl Default for Grant {
    /// Nothing granted; the default `[web.fetch]` rules.
    fn default() -> Self {
        Self {
            host_functions: BTreeSet::new(),
            secrets: BTreeMap::new(),
            fetch: FetchConfig::default(),
            fetch_limits: FetchLimits::default(),
            resolver: Arc::new(SystemResolver),
        }
    }
}

impl Grant {
    /// Grants these host functions, with default fetch rules and no secrets.
    #[must_use]
    pub fn of(functions: &[HostFunction]) -> Self {
        Self {
            host_functions: functions.iter().copied().collect(),
            ..Self::default()
        }
    }
}

/// The limits one call of one plugin runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallLimits {
    /// Fuel.
    pub fuel: u64,
    /// Wall clock.
    pub timeout: Duration,
    /// Linear-memory pages.
    pub memory_pages: u32,
}

/// What the host knows about the caller of one plugin call.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallContext {
    /// The calling agent's `[capabilities] network` (empty = no further narrowing).
    pub agent_network: Vec<String>,
}

/// The guest's own answer to a call: `Ok(text)` or `Err(message)` (a tool error).
pub type GuestResult = Result<String, String>;

/// A verified, compiled plugin, ready to be called any number of times concurrently.
pub struct LoadedPlugin {
    manifest: Manifest,
    publisher: Option<String>,
    code_sha256: String,
    limits: CallLimits,
    pre: InstancePre<State>,
    /// Keeps the engine and its epoch ticker alive as long as any plugin is.
    host: Arc<HostInner>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("publisher", &self.publisher)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// State shared by every call of one plugin.
struct Shared {
    name: String,
    granted: BTreeSet<HostFunction>,
    kv: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    fetch: Option<FetchSetup>,
}

struct FetchSetup {
    fetcher: Fetcher,
    config: FetchConfig,
    limits: FetchLimits,
    /// Header and value (already prefixed, marked sensitive) per secret name.
    secrets: BTreeMap<String, (HeaderName, HeaderValue, SecretString)>,
}

/// The per-call store data.
struct State {
    shared: Arc<Shared>,
    limiter: Limiter,
    deadline: Instant,
    logs: usize,
    fetches: usize,
    agent_network: Vec<String>,
    runtime: Option<tokio::runtime::Handle>,
}

/// The resource limiter: linear memory and tables (SPEC W2).
struct Limiter {
    max_memory_bytes: usize,
    memory_hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.memory_hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.memory_hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Why a host function stopped the guest.
#[derive(Debug, thiserror::Error)]
enum HostTrap {
    #[error("deadline passed in a host call")]
    Deadline,
    #[error("{0}")]
    Abi(String),
}

fn abi(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(HostTrap::Abi(msg.into()))
}

impl PluginHost {
    /// The engine (fuel and epoch interruption on; no WASI, no threads) and its ticker thread.
    ///
    /// # Errors
    /// [`PluginError::Host`] if wasmtime cannot create the engine or the thread.
    pub fn new(limits: WasmConfig) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(512 * 1024);
        let engine = Engine::new(&config)
            .map_err(|e| PluginError::Host(format!("creating the wasm engine: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, ticker_stop) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rampart-wasm-epoch".to_owned())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Host(format!("starting the epoch ticker: {e}")))?;
        Ok(Self {
            inner: Arc::new(HostInner {
                engine,
                limits,
                stop,
            }),
        })
    }

    /// The owner's limits.
    #[must_use]
    pub fn limits(&self) -> WasmConfig {
        self.inner.limits
    }

    /// Compiles and links a plugin whose files were already verified: checks every import
    /// against what the manifest requests and the grant allows, and the exports against the
    /// ABI.
    ///
    /// # Errors
    /// [`PluginError::UngrantedImport`], [`PluginError::Module`], [`PluginError::TooLarge`].
    pub fn load(
        &self,
        manifest: Manifest,
        code: &[u8],
        publisher: Option<String>,
        grant: &Grant,
    ) -> Result<LoadedPlugin, PluginError> {
        let name = manifest.name.clone();
        if code.len() > MAX_CODE_BYTES {
            return Err(PluginError::TooLarge {
                plugin: name,
                what: "the code",
                limit: MAX_CODE_BYTES,
            });
        }
        let engine = &self.inner.engine;
        let module_err = |detail: String| PluginError::Module {
            plugin: name.clone(),
            detail,
        };
        let module = Module::new(engine, code).map_err(|e| module_err(format!("{e}")))?;
        let granted: BTreeSet<HostFunction> = manifest
            .host_functions
            .intersection(&grant.host_functions)
            .copied()
            .collect();
        for import in module.imports() {
            let hint = match HostFunction::of_import(import.name()) {
                _ if import.module() != HOST_MODULE => String::new(),
                None => String::new(),
                Some(f) if !manifest.host_functions.contains(&f) => {
                    format!(" (plugin.toml does not request {:?})", f.as_str())
                }
                Some(f) if !granted.contains(&f) => format!(
                    " (the owner has not granted it: [plugins.grants.{name}] host_functions = [\"{}\"])",
                    f.as_str()
                ),
                Some(_) => continue,
            };
            return Err(PluginError::UngrantedImport {
                plugin: name,
                module: import.module().to_owned(),
                name: import.name().to_owned(),
                hint,
            });
        }
        check_exports(&module).map_err(module_err)?;

        let mut linker: Linker<State> = Linker::new(engine);
        link(&mut linker, &granted).map_err(|e| module_err(format!("linking: {e}")))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| module_err(format!("{e}")))?;

        let fetch = if granted.contains(&HostFunction::HttpFetch) {
            let config = grant.fetch.clone();
            // The manifest's hosts must pass too: FetchPolicy applies both lists.
            let policy = FetchPolicy::new(&config, &manifest.hosts, grant.fetch_limits)
                .map_err(|e| PluginError::Manifest(format!("hosts: {e}")))?;
            let mut secrets = BTreeMap::new();
            for (secret, def) in &manifest.secrets {
                let Some(value) = grant.secrets.get(secret) else {
                    continue;
                };
                let header = HeaderName::from_bytes(def.header.as_bytes())
                    .map_err(|e| PluginError::Manifest(format!("secrets.{secret}: {e}")))?;
                let mut v =
                    HeaderValue::from_str(&format!("{}{}", def.prefix, value.expose_secret()))
                        .map_err(|_| {
                            PluginError::Host(format!(
                                "secret {secret:?} of plugin {name:?} is not a valid header value"
                            ))
                        })?;
                v.set_sensitive(true);
                secrets.insert(secret.clone(), (header, v, value.clone()));
            }
            Some(FetchSetup {
                fetcher: Fetcher::with_resolver(policy, grant.resolver.clone()),
                config,
                limits: grant.fetch_limits,
                secrets,
            })
        } else {
            None
        };

        let owner = self.inner.limits;
        let limits = CallLimits {
            fuel: manifest
                .limits
                .fuel
                .map_or(owner.fuel_limit, |f| f.min(owner.fuel_limit)),
            timeout: Duration::from_millis(
                manifest
                    .limits
                    .timeout_ms
                    .map_or(owner.epoch_timeout_ms, |t| t.min(owner.epoch_timeout_ms)),
            ),
            memory_pages: manifest
                .limits
                .memory_pages
                .map_or(owner.max_memory_pages, |p| p.min(owner.max_memory_pages)),
        };
        Ok(LoadedPlugin {
            code_sha256: sign::sha256_hex(code),
            publisher,
            limits,
            pre,
            host: self.inner.clone(),
            shared: Arc::new(Shared {
                name,
                granted,
                kv: Mutex::new(BTreeMap::new()),
                fetch,
            }),
            manifest,
        })
    }
}

/// The exports the ABI needs, with the right types.
fn check_exports(module: &Module) -> Result<(), String> {
    let mut memory = false;
    let mut alloc = false;
    let mut call = false;
    for e in module.exports() {
        match (e.name(), e.ty()) {
            (EXPORT_MEMORY, ExternType::Memory(m)) => memory = !m.is_64() && !m.is_shared(),
            (EXPORT_ALLOC, ExternType::Func(f)) => {
                alloc = matches!(f.params().collect::<Vec<_>>().as_slice(), [ValType::I32])
                    && matches!(f.results().collect::<Vec<_>>().as_slice(), [ValType::I32]);
            }
            (EXPORT_CALL, ExternType::Func(f)) => {
                call = f.params().len() == 4
                    && f.params().all(|p| matches!(p, ValType::I32))
                    && matches!(f.results().collect::<Vec<_>>().as_slice(), [ValType::I64]);
            }
            _ => {}
        }
    }
    for (ok, what) in [
        (memory, "a 32-bit, unshared `memory`"),
        (alloc, "`alloc(i32) -> i32`"),
        (call, "`call(i32, i32, i32, i32) -> i64`"),
    ] {
        if !ok {
            return Err(format!("the module must export {what} (see the guest ABI)"));
        }
    }
    Ok(())
}

impl LoadedPlugin {
    /// The manifest.
    #[must_use]
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The plugin's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The trusted key that signed it (`None`: accepted unsigned).
    #[must_use]
    pub fn publisher(&self) -> Option<&str> {
        self.publisher.as_deref()
    }

    /// SHA-256 of the code, hex.
    #[must_use]
    pub fn code_sha256(&self) -> &str {
        &self.code_sha256
    }

    /// The limits each call runs under.
    #[must_use]
    pub fn limits(&self) -> CallLimits {
        self.limits
    }

    /// The host functions it was linked with.
    #[must_use]
    pub fn granted(&self) -> &BTreeSet<HostFunction> {
        &self.shared.granted
    }

    /// Calls `tool` with `args` on a fresh instance in a fresh store, on a blocking thread.
    ///
    /// # Errors
    /// A [`PluginError`] when the sandbox stopped the call (fuel, deadline, memory, trap, ABI).
    pub async fn call_async(
        self: &Arc<Self>,
        tool: &str,
        args: &serde_json::Value,
        ctx: CallContext,
    ) -> Result<GuestResult, PluginError> {
        let this = self.clone();
        let tool = tool.to_owned();
        let args = args.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || this.call(&tool, &args, &ctx, Some(handle)))
            .await
            .map_err(|e| PluginError::Host(format!("the plugin call's thread failed: {e}")))?
    }

    /// Calls `tool` with `args` on a fresh instance in a fresh store, on this thread (blocking
    /// up to the call's timeout). `runtime` is needed for `http_fetch` only.
    ///
    /// # Errors
    /// As [`LoadedPlugin::call_async`].
    pub fn call(
        &self,
        tool: &str,
        args: &serde_json::Value,
        ctx: &CallContext,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Result<GuestResult, PluginError> {
        let name = &self.manifest.name;
        let args = serde_json::to_vec(args).map_err(|e| PluginError::Host(e.to_string()))?;
        if args.len() > MAX_INPUT_BYTES {
            return Err(PluginError::TooLarge {
                plugin: name.clone(),
                what: "the arguments",
                limit: MAX_INPUT_BYTES,
            });
        }
        let pages = usize::try_from(self.limits.memory_pages).unwrap_or(usize::MAX);
        let mut store = Store::new(
            &self.host.engine,
            State {
                shared: self.shared.clone(),
                limiter: Limiter {
                    max_memory_bytes: pages.saturating_mul(65536),
                    memory_hit: false,
                },
                deadline: Instant::now() + self.limits.timeout,
                logs: 0,
                fetches: 0,
                agent_network: ctx.agent_network.clone(),
                runtime,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        // Counted from now, in ticks of this engine's one epoch; other stores keep their own.
        let tick = EPOCH_TICK.as_millis().max(1);
        let ticks =
            u64::try_from(self.limits.timeout.as_millis().div_ceil(tick)).unwrap_or(u64::MAX);
        store.set_epoch_deadline(ticks.max(1));
        store.epoch_deadline_trap();

        let run = |store: &mut Store<State>| -> wasmtime::Result<Vec<u8>> {
            let instance = self.pre.instantiate(&mut *store)?;
            let memory = instance
                .get_memory(&mut *store, EXPORT_MEMORY)
                .ok_or_else(|| abi("no memory export"))?;
            let alloc = instance.get_typed_func::<i32, i32>(&mut *store, EXPORT_ALLOC)?;
            let call =
                instance.get_typed_func::<(i32, i32, i32, i32), i64>(&mut *store, EXPORT_CALL)?;
            let (tp, tl) = write_guest(&mut *store, memory, &alloc, tool.as_bytes())?;
            let (ap, al) = write_guest(&mut *store, memory, &alloc, &args)?;
            let to_i32 = |v: u32| i32::try_from(v).map_err(|_| abi("pointer out of range"));
            let out = call.call(
                &mut *store,
                (to_i32(tp)?, to_i32(tl)?, to_i32(ap)?, to_i32(al)?),
            )?;
            let (ptr, len) = packed(out);
            read_memory(
                &*store,
                memory,
                i32::try_from(ptr).map_err(|_| abi("result pointer out of range"))?,
                i32::try_from(len).map_err(|_| abi("result length out of range"))?,
                MAX_OUTPUT_BYTES,
            )
        };
        let out =
            run(&mut store).map_err(|e| classify(name, &e, store.data().limiter.memory_hit))?;
        parse_result(name, &out)
    }
}

/// Maps a wasmtime error to the sandbox's reason.
fn classify(name: &str, e: &wasmtime::Error, memory_hit: bool) -> PluginError {
    if let Some(trap) = e.downcast_ref::<Trap>() {
        match trap {
            Trap::OutOfFuel => return PluginError::OutOfFuel(name.to_owned()),
            Trap::Interrupt => return PluginError::Deadline(name.to_owned()),
            _ => {}
        }
    }
    match e.downcast_ref::<HostTrap>() {
        Some(HostTrap::Deadline) => return PluginError::Deadline(name.to_owned()),
        Some(HostTrap::Abi(m)) => {
            return PluginError::Trap {
                plugin: name.to_owned(),
                detail: format!("ABI violation: {m}"),
            };
        }
        None => {}
    }
    if memory_hit {
        return PluginError::MemoryLimit(name.to_owned());
    }
    let detail: String = format!("{e}").chars().take(300).collect();
    PluginError::Trap {
        plugin: name.to_owned(),
        detail,
    }
}

/// `{"ok": …}` or `{"error": "…"}`.
fn parse_result(name: &str, out: &[u8]) -> Result<GuestResult, PluginError> {
    let bad = |detail: &str| PluginError::Trap {
        plugin: name.to_owned(),
        detail: format!("ABI violation: {detail}"),
    };
    let value: serde_json::Value =
        serde_json::from_slice(out).map_err(|_| bad("the result is not JSON"))?;
    if let Some(ok) = value.get("ok") {
        return Ok(Ok(match ok {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    if let Some(err) = value.get("error") {
        return Ok(Err(match err {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    Err(bad("the result has neither \"ok\" nor \"error\""))
}
