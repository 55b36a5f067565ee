//! The command line, as clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Rampart: a self-hosted AI agent gateway whose product is security.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about)]
pub(crate) struct Cli {
    /// Rampart's home directory (default: $RAMPART_HOME, else ~/.rampart).
    #[arg(long, global = true, env = "RAMPART_HOME", value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// The configuration file (default: HOME/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Log filter, e.g. `warn` or `rampart=debug` (default: $RAMPART_LOG, else info).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub(crate) log_level: Option<String>,
    /// Read the vault passphrase from the first line of stdin (for services and scripts).
    #[arg(long, global = true)]
    pub(crate) passphrase_stdin: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the home, a config with secure defaults and an API key.
    Init(InitArgs),
    /// Run the gateway in the foreground until SIGINT/SIGTERM.
    Start,
    /// An offline end-to-end demonstration on a temporary home.
    Demo,
    /// Print a new API key: base64 of 32 random bytes.
    Keygen {
        /// Also print the key's argon2id hash, for a `[[users]] api_key_hash`.
        #[arg(long)]
        hash: bool,
    },
    /// Report the sandbox confinement this machine gives shell_exec and insecure settings.
    Doctor,
    /// Manage agents on the running gateway.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Manage the encrypted credential vault.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Inspect and verify the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Install, list, remove and sign WASM plugins.
    #[cfg(feature = "plugins")]
    #[command(subcommand)]
    Plugins(crate::cmd::plugins::PluginsCommand),
    /// Run the input defense on a text: exit 3 when it detects an injection.
    Scan(ScanArgs),
    /// Print the running gateway's metrics (Prometheus text), optionally only names containing F.
    Metrics {
        /// Keep only metrics whose name contains this, e.g. rate_limit.
        #[arg(long, value_name = "F")]
        filter: Option<String>,
    },
    /// The peer network: `rampart peers list` shows the running gateway's links.
    #[command(subcommand)]
    Peers(PeersCommand),
    /// Ask the running gateway for a one-time pairing code for CHANNEL (prints the 6 digits).
    Pair {
        /// The channel, e.g. telegram.
        #[arg(value_name = "CHANNEL")]
        channel: String,
    },
    /// Print the gateway's log file (HOME/logs/rampart.log), optionally only at level L or worse.
    Logs {
        /// error, warn, info, debug or trace.
        #[arg(long, value_name = "L")]
        level: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the whole hash chain and its signed checkpoints; exit 3 naming the first bad entry.
    Verify {
        /// The log (default: [audit] log_path of the config).
        #[arg(long, value_name = "P")]
        path: Option<PathBuf>,
        /// The checkpoint public key to trust (`ed25519:…`, as in HOME/audit.pub). Without it the
        /// key named inside the log is used, which does not detect a rewrite by someone who can
        /// replace both files.
        #[arg(long, value_name = "K")]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the newest entries, oldest first.
    Show {
        /// Only this agent's entries.
        #[arg(long, value_name = "A")]
        agent: Option<String>,
        /// Only this event kind, e.g. auth_failed.
        #[arg(long, value_name = "EVENT")]
        filter: Option<String>,
        /// At most this many entries (default 100).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// One JSON entry per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write every entry to stdout.
    Export {
        /// `json` (one array) or `jsonl` (as stored, still verifiable).
        #[arg(long, value_name = "FORMAT", default_value = "jsonl")]
        format: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// The file to scan, or `-` (the default) for stdin.
    #[arg(value_name = "FILE|-")]
    pub(crate) file: Option<PathBuf>,
    /// `message` (a chat message) or `skill` (skill/plugin content: adds exfiltration and shell checks).
    #[arg(long, value_enum, default_value_t = ScanKindArg::Message)]
    pub(crate) kind: ScanKindArg,
    /// Print `{"verdict":…,"findings":[…]}`.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ScanKindArg {
    Message,
    Skill,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Store a secret; the value is read from stdin (after the passphrase line with
    /// --passphrase-stdin), or asked for without echo on a terminal. Never from the command line.
    Set {
        /// The entry's name, e.g. openai_api_key.
        name: String,
    },
    /// List the names of the stored secrets (never their values).
    List,
    /// Remove a secret.
    Rm {
        /// The entry's name.
        name: String,
    },
    /// Change the passphrase: new salt, new key, everything re-encrypted. The new passphrase comes
    /// from RAMPART_VAULT_NEW_PASSPHRASE, the second line of stdin with --passphrase-stdin, or a prompt.
    Passwd,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Never prompt; fail instead when something would have to be asked.
    #[arg(long)]
    pub(crate) non_interactive: bool,
    /// The provider's protocol.
    #[arg(long, value_enum, default_value_t = ProviderArg::Scripted)]
    pub(crate) provider: ProviderArg,
    /// The provider's base URL (default: its public API).
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// The model for the first agent, e.g. gpt-4o-mini.
    #[arg(long, value_name = "M")]
    pub(crate) model: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ProviderArg {
    Openai,
    Anthropic,
    Scripted,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AgentsCommand {
    /// List agents.
    List,
    /// Create an agent from a manifest file (agent.toml).
    Create {
        /// The manifest.
        file: PathBuf,
    },
    /// Delete an agent.
    Delete {
        /// The agent's name.
        name: String,
    },
}

/// `rampart peers …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PeersCommand {
    /// Connected nodes (incoming too), their keys and when each was last seen.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}
