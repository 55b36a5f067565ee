//! `rampart plugins install|list|remove|sign|keygen`, and the start-up registration of the
//! installed plugins' tools (SPEC W1–W3). Only built with the `plugins` feature (on by default).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use rampart_agent::ToolRegistry;
use rampart_audit::AuditSink;
use rampart_config::Config;
use rampart_core::SecretRef;
use rampart_net::FetchConfig;
use rampart_plugins::bundle::{self, CODE_FILE, MANIFEST_FILE, SIGNATURE_FILE};
use rampart_plugins::loader::{self, LoadOptions};
use rampart_plugins::{Manifest, PluginError, PluginHost, PublisherKey};
use secrecy::SecretString;

use crate::boot;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

/// Largest publisher key file read.
///
/// # Security
/// The key file is a path from the command line; it is one short line.
const MAX_KEY_FILE_BYTES: u64 = 4096;

#[derive(Debug, Subcommand)]
pub(crate) enum PluginsCommand {
    /// Verify a plugin directory (plugin.toml, plugin.wasm, plugin.sig) against [plugins]
    /// trusted_keys, scan it, check its imports against its grant, and install it under
    /// HOME/plugins/NAME. Exit 3 when the plugin is refused. `start` loads it.
    Install {
        /// The plugin directory.
        path: PathBuf,
    },
    /// List the installed plugins.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed plugin.
    Remove {
        /// The plugin's name.
        name: String,
    },
    /// Sign a plugin directory with a publisher key: writes PATH/plugin.sig.
    Sign {
        /// The publisher's secret key file (from `plugins keygen`).
        #[arg(long, value_name = "K")]
        key: PathBuf,
        /// The plugin directory.
        path: PathBuf,
    },
    /// Create a publisher key: the secret key goes to FILE (mode 0600, never overwritten), the
    /// public key (for the owner's [plugins] trusted_keys) to stdout.
    Keygen {
        /// Where to write the secret key.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

pub(crate) fn run(home: &Home, cmd: PluginsCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginsCommand::Install { path } => install(home, &path),
        PluginsCommand::List { json } => list(home, json),
        PluginsCommand::Remove { name } => remove(home, &name),
        PluginsCommand::Sign { key, path } => sign(&key, &path),
        PluginsCommand::Keygen { out } => keygen(&out),
    }
}

/// `[web.fetch]` as the fetcher's configuration (plugins' `http_fetch` follows the same rules).
fn fetch_config(config: &Config) -> FetchConfig {
    let w = &config.web_fetch;
    FetchConfig {
        block_private_ips: w.block_private_ips,
        block_metadata_endpoints: w.block_metadata_endpoints,
        max_redirects: w.max_redirects,
        allowed_hosts: w.allowed_hosts.clone(),
        allow_private: w.allow_private.clone(),
    }
}

fn host(config: &Config) -> Result<PluginHost, CliError> {
    PluginHost::new(config.security.wasm).map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))
}

fn install(home: &Home, path: &Path) -> Result<ExitCode, CliError> {
    let config = boot::load_config(home)?;
    let host = host(&config)?;
    // Install checks the plugin with its grant's host functions; secrets are resolved at start.
    let no_secrets =
        |_: &SecretRef| -> Result<SecretString, String> { Err("not resolved".to_owned()) };
    let mut opts = LoadOptions::new(&config.plugins, &no_secrets);
    opts.fetch = fetch_config(&config);
    let verified = match loader::check_for_install(&host, path, &opts) {
        Ok(v) => v,
        Err(e @ PluginError::Io { .. }) => return Err(CliError::usage(anyhow::anyhow!("{e}"))),
        Err(e) => {
            eprintln!("refused: {e}");
            return Ok(ExitCode::from(3));
        }
    };
    let root = bundle::plugins_dir(&home.dir);
    let dir =
        bundle::install(&root, &verified).map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
    let m = &verified.manifest;
    let tools: Vec<String> = m
        .tools
        .iter()
        .map(|t| rampart_plugins::tool_name(&m.name, &t.name))
        .collect();
    println!(
        "installed {} {} ({}) in {}",
        m.name,
        m.version,
        verified
            .publisher
            .as_deref()
            .map_or_else(|| "unsigned".to_owned(), |k| format!("signed by {k}")),
        dir.display()
    );
    println!("tools: {}", tools.join(", "));
    println!(
        "restart the gateway to load it; agents call its tools once their [capabilities] tools list them"
    );
    Ok(ExitCode::SUCCESS)
}

fn list(home: &Home, json: bool) -> Result<ExitCode, CliError> {
    let installed = bundle::list(&bundle::plugins_dir(&home.dir))
        .map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
    if json {
        let text = serde_json::to_string(&installed)
            .map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
        println!("{text}");
    } else if installed.is_empty() {
        println!("no plugins installed");
    } else {
        for p in installed {
            println!(
                "{}\t{}\t{}\t{}",
                p.name,
                p.version,
                if p.signed { "signed" } else { "unsigned" },
                p.tools.join(",")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(home: &Home, name: &str) -> Result<ExitCode, CliError> {
    match bundle::remove(&bundle::plugins_dir(&home.dir), name) {
        Ok(true) => {
            println!("removed {name}; restart the gateway to unload it");
            Ok(ExitCode::SUCCESS)
        }
        Ok(false) => Err(CliError::usage(anyhow::anyhow!(
            "no plugin named {name:?} is installed"
        ))),
        Err(e @ PluginError::Manifest(_)) => Err(CliError::usage(anyhow::anyhow!("{e}"))),
        Err(e) => Err(CliError::runtime(anyhow::anyhow!("{e}"))),
    }
}

fn read_small(path: &Path, cap: u64) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| CliError::usage(anyhow::anyhow!("reading {}: {e}", path.display())))?;
    if bytes.len() as u64 > cap {
        return Err(CliError::usage(anyhow::anyhow!(
            "{} is larger than {cap} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

fn sign(key: &Path, path: &Path) -> Result<ExitCode, CliError> {
    let key_text = zeroize::Zeroizing::new(read_small(key, MAX_KEY_FILE_BYTES)?);
    let key = PublisherKey::from_file_text(&String::from_utf8_lossy(&key_text))
        .map_err(|e| CliError::usage(anyhow::anyhow!("{}: {e}", key.display())))?;
    let manifest = read_small(
        &path.join(MANIFEST_FILE),
        rampart_plugins::MAX_MANIFEST_BYTES as u64,
    )?;
    let code = read_small(
        &path.join(CODE_FILE),
        rampart_plugins::MAX_CODE_BYTES as u64,
    )?;
    let parsed = Manifest::parse(&String::from_utf8_lossy(&manifest))
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?;
    let sig_path = path.join(SIGNATURE_FILE);
    rampart_durable::write_atomic(&sig_path, key.sign(&manifest, &code).as_bytes(), 0o644)
        .map_err(|e| CliError::runtime(anyhow::anyhow!("writing {}: {e}", sig_path.display())))?;
    println!(
        "signed {} {} with {} (code sha256 {})",
        parsed.name,
        parsed.version,
        key.public_text(),
        rampart_plugins::sign::sha256_hex(&code)
    );
    Ok(ExitCode::SUCCESS)
}

fn keygen(out: &Path) -> Result<ExitCode, CliError> {
    if out.exists() {
        return Err(CliError::usage(anyhow::anyhow!(
            "{} exists; a publisher key is never overwritten",
            out.display()
        )));
    }
    let key = PublisherKey::generate().map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
    rampart_durable::write_atomic(out, key.to_file_text().as_bytes(), 0o600)
        .map_err(|e| CliError::runtime(anyhow::anyhow!("writing {}: {e}", out.display())))?;
    println!("{}", key.public_text());
    Ok(ExitCode::SUCCESS)
}

/// Loads the installed plugins (each verified again, audited as loaded or refused) and
/// registers their tools. A refused plugin is left out; the gateway still starts.
pub(crate) fn register_installed(
    home: &Home,
    config: &Config,
    secrets: &Secrets,
    audit: Option<&AuditSink>,
    tools: &mut ToolRegistry,
) -> Result<(), CliError> {
    let root = bundle::plugins_dir(&home.dir);
    if !config.plugins.enabled || !root.exists() {
        return Ok(());
    }
    let host = host(config)?;
    let resolver = secrets.resolver();
    let resolve = |r: &SecretRef| resolver.resolve(r).map_err(|e| e.to_string());
    let mut opts = LoadOptions::new(&config.plugins, &resolve);
    opts.fetch = fetch_config(config);
    opts.audit = audit;
    let loaded = loader::load_installed(&host, &root, &opts)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?;
    for plugin in &loaded {
        match rampart_plugins::register(tools, plugin, audit) {
            Ok(names) => {
                tracing::info!(plugin = %plugin.name(), tools = ?names, "plugin tools registered");
            }
            Err(e) => tracing::error!(error = %e, "plugin tools not registered"),
        }
    }
    // Dropping `host` here is fine: each loaded plugin keeps the engine and its epoch ticker
    // alive for as long as its tools are registered.
    Ok(())
}
