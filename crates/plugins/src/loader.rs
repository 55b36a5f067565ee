//! Loading the installed plugins at start-up: every bundle is verified again (the files may
//! have changed since install), compiled with exactly its grant, and audited as loaded or
//! refused.

use std::path::Path;
use std::sync::Arc;

use rampart_audit::{AuditSink, Event, Outcome, Record};
use rampart_config::PluginsConfig;
use rampart_core::SecretRef;
use rampart_net::{FetchConfig, FetchLimits, Resolver, SystemResolver};
use secrecy::SecretString;

use crate::PluginError;
use crate::bundle::{self, Bundle};
use crate::host::{Grant, LoadedPlugin, PluginHost};
use crate::manifest::HostFunction;
use crate::sign::{self, TrustStore};

/// How secrets named in `[plugins.grants.NAME] secrets` become values (the binary resolves
/// them through the vault).
pub type SecretResolver<'a> = &'a dyn Fn(&SecretRef) -> Result<SecretString, String>;

/// What [`load_installed`] needs besides the host.
#[non_exhaustive]
pub struct LoadOptions<'a> {
    /// `[plugins]`.
    pub config: &'a PluginsConfig,
    /// `[web.fetch]`, for `http_fetch`.
    pub fetch: FetchConfig,
    /// Fetch limits.
    pub fetch_limits: FetchLimits,
    /// The name resolver for `http_fetch`.
    pub resolver: Arc<dyn Resolver>,
    /// Resolves granted secrets.
    pub secrets: SecretResolver<'a>,
    /// Where `plugin_load` events go.
    pub audit: Option<&'a AuditSink>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'a> LoadOptions<'a> {
    /// Options with the system resolver and default fetch rules.
    #[must_use]
    pub fn new(config: &'a PluginsConfig, secrets: SecretResolver<'a>) -> Self {
        Self {
            config,
            fetch: FetchConfig::default(),
            fetch_limits: FetchLimits::default(),
            resolver: Arc::new(SystemResolver),
            secrets,
            audit: None,
        }
    }
}

/// The grant for `plugin` from `[plugins.grants.NAME]`; secrets are resolved only when
/// `with_secrets` (install checks the plugin without unlocking anything).
///
/// # Errors
/// [`PluginError::Host`] when a granted secret cannot be resolved.
pub fn grant_for(
    plugin: &str,
    opts: &LoadOptions<'_>,
    with_secrets: bool,
) -> Result<Grant, PluginError> {
    let mut grant = Grant {
        fetch: opts.fetch.clone(),
        fetch_limits: opts.fetch_limits,
        resolver: opts.resolver.clone(),
        ..Grant::default()
    };
    if let Some(g) = opts.config.grants.get(plugin) {
        grant.host_functions = g
            .host_functions
            .iter()
            .filter_map(|f| HostFunction::parse(f))
            .collect();
        for (name, reference) in g.secrets.iter().filter(|_| with_secrets) {
            let value = (opts.secrets)(reference).map_err(|e| {
                PluginError::Host(format!("[plugins.grants.{plugin}] secrets.{name}: {e}"))
            })?;
            grant.secrets.insert(name.clone(), value);
        }
    }
    Ok(grant)
}

/// Verifies and compiles one plugin directory with its grant.
///
/// # Errors
/// Any [`PluginError`] of reading, verifying or compiling.
pub fn load_one(
    host: &PluginHost,
    dir: &Path,
    trust: &TrustStore,
    opts: &LoadOptions<'_>,
) -> Result<LoadedPlugin, PluginError> {
    let verified = Bundle::read(dir)?.verify(trust, opts.config.require_signed)?;
    let grant = grant_for(&verified.manifest.name, opts, true)?;
    host.load(
        verified.manifest,
        &verified.bundle.code,
        verified.publisher,
        &grant,
    )
}

/// Loads every plugin under `root` (`$RAMPART_HOME/plugins`). A plugin that fails any check
/// is refused — logged, audited, and left out — without stopping the others or the gateway.
/// A directory whose name differs from its manifest's `name` is refused too.
///
/// # Errors
/// [`PluginError::Host`] when `[plugins] trusted_keys` does not parse, or [`PluginError::Io`]
/// when `root` cannot be listed.
pub fn load_installed(
    host: &PluginHost,
    root: &Path,
    opts: &LoadOptions<'_>,
) -> Result<Vec<Arc<LoadedPlugin>>, PluginError> {
    let trust = TrustStore::new(&opts.config.trusted_keys)?;
    let installed = bundle::list(root)?;
    let mut loaded = Vec::new();
    for entry in installed {
        let dir = root.join(&entry.name);
        let result = load_one(host, &dir, &trust, opts).and_then(|p| {
            if p.name() == entry.name {
                Ok(p)
            } else {
                Err(PluginError::Manifest(format!(
                    "installed as {:?} but its manifest says {:?}",
                    entry.name,
                    p.name()
                )))
            }
        });
        let (event, outcome) = match &result {
            Ok(p) => (
                Event::PluginLoad {
                    plugin: p.name().to_owned(),
                    version: p.manifest().version.clone(),
                    code_sha256: p.code_sha256().to_owned(),
                    publisher: p.publisher().unwrap_or_default().to_owned(),
                    reason: String::new(),
                },
                Outcome::Ok,
            ),
            Err(e) => (
                Event::PluginLoad {
                    plugin: entry.name.clone(),
                    version: entry.version.clone(),
                    code_sha256: entry.code_sha256.clone(),
                    publisher: String::new(),
                    reason: e.reason().to_owned(),
                },
                Outcome::Denied,
            ),
        };
        if let Some(sink) = opts.audit
            && let Err(e) = sink.record_blocking(Record::new(event).outcome(outcome))
        {
            tracing::error!(error = %e, "could not audit a plugin load");
        }
        match result {
            Ok(p) => {
                tracing::info!(
                    plugin = %p.name(),
                    version = %p.manifest().version,
                    signed = p.publisher().is_some(),
                    "plugin loaded"
                );
                loaded.push(Arc::new(p));
            }
            Err(e) => tracing::error!(plugin = %entry.name, error = %e, "plugin refused"),
        }
    }
    Ok(loaded)
}

/// The checks `rampart plugins install` runs before copying: read, verify against the trust
/// store, scan, compile with the configured grant (so an ungranted import is refused now).
///
/// # Errors
/// Any [`PluginError`] of the checks.
pub fn check_for_install(
    host: &PluginHost,
    src: &Path,
    opts: &LoadOptions<'_>,
) -> Result<bundle::Verified, PluginError> {
    let trust = TrustStore::new(&opts.config.trusted_keys)?;
    let verified = Bundle::read(src)?.verify(&trust, opts.config.require_signed)?;
    let grant = grant_for(&verified.manifest.name, opts, false)?;
    host.load(
        verified.manifest.clone(),
        &verified.bundle.code,
        verified.publisher.clone(),
        &grant,
    )?;
    Ok(verified)
}

/// The SHA-256 of a bundle's code (for reports).
#[must_use]
pub fn code_digest(bundle: &Bundle) -> String {
    sign::sha256_hex(&bundle.code)
}
