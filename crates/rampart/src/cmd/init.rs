//! `rampart init`: the home, a commented config with the secure defaults, a vault holding a fresh
//! API key, and a first agent.

use std::process::ExitCode;

use anyhow::Context;
use rampart_config::{ProviderKind, TemplateOptions, default_config_toml};
use rampart_vault::passphrase::{PASSPHRASE_ENV, PassphraseReader};
use rampart_vault::{PassphraseOptions, SecretString, Vault};

use crate::cli::{InitArgs, ProviderArg};
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::{API_KEY_SETTING, vault_error};

pub(crate) fn run(home: &Home, args: &InitArgs, from_stdin: bool) -> Result<ExitCode, CliError> {
    if home.config.exists() {
        return Err(CliError::usage(anyhow::anyhow!(
            "{} already exists: this home is initialised (remove it to start over)",
            home.config.display()
        )));
    }
    let vault_path = rampart_vault::vault_path(&home.dir);
    if vault_path.exists() {
        return Err(CliError::usage(anyhow::anyhow!(
            "a vault already exists at {}",
            vault_path.display()
        )));
    }
    if args.non_interactive && !from_stdin && std::env::var_os(PASSPHRASE_ENV).is_none() {
        return Err(CliError::usage(anyhow::anyhow!(
            "--non-interactive needs the vault passphrase from --passphrase-stdin or {PASSPHRASE_ENV}"
        )));
    }
    let (provider, default_model) = match args.provider {
        ProviderArg::Openai => (ProviderKind::Openai, "gpt-4o-mini"),
        ProviderArg::Anthropic => (ProviderKind::Anthropic, "claude-sonnet-4-5"),
        ProviderArg::Scripted => (ProviderKind::Scripted, "scripted"),
    };
    let model = args.model.as_deref().unwrap_or(default_model);
    if model.is_empty() || model.contains(['"', '\\', '\n', '\r']) {
        return Err(CliError::usage(anyhow::anyhow!(
            "--model must be a plain model id"
        )));
    }
    let config_text = default_config_toml(&TemplateOptions {
        provider,
        base_url: args.base_url.clone(),
    });
    // Check what we are about to write parses, before touching the disk.
    rampart_config::Config::from_toml_str(&config_text, "config.toml").map_err(CliError::usage)?;

    let mut reader = PassphraseReader::from_process();
    let pass: SecretString = reader
        .passphrase(PassphraseOptions {
            from_stdin,
            confirm: true,
        })
        .map_err(vault_error)?;

    rampart_durable::ensure_private_dir(&home.dir)
        .with_context(|| format!("creating {}", home.dir.display()))?;
    let mut vault = Vault::create(&vault_path, &pass).map_err(vault_error)?;
    let key = super::keygen::new_key()?;
    vault
        .set(API_KEY_SETTING.vault_name, SecretString::from(key.clone()))
        .map_err(vault_error)?;
    vault.save().map_err(vault_error)?;
    // The audit trail's checkpoint signing key lives in the vault; its public half is exported.
    let audit_public = crate::secrets::audit_key_in(&mut vault)?.public_key();
    // The node's identity on the peer network ([network]); peers pin its public half.
    let peer_public = crate::peers::identity_in(&mut vault)?.public();
    let pub_path = home.dir.join("audit.pub");
    rampart_durable::write_atomic(&pub_path, format!("{audit_public}\n").as_bytes(), 0o644)
        .context("writing audit.pub")?;

    for dir in ["data", "agents/assistant", "workspace/assistant"] {
        rampart_durable::ensure_private_dir(&home.dir.join(dir))
            .with_context(|| format!("creating {dir}"))?;
    }
    let manifest = format!(
        "# The first agent. Its tools are only those listed in [capabilities] tools.\n\
         name = \"assistant\"\nmodel = \"default/{model}\"\nsystem_prompt = \"You are a helpful assistant.\"\n\n\
         [capabilities]\ntools = [\"clock\"]\n"
    );
    let agent_path = home.dir.join("agents/assistant/agent.toml");
    rampart_durable::write_atomic(&agent_path, manifest.as_bytes(), 0o600)
        .context("writing the agent manifest")?;
    rampart_durable::write_atomic(&home.config, config_text.as_bytes(), 0o600)
        .context("writing config.toml")?;

    println!("Rampart initialised in {}", home.dir.display());
    println!("  config      {}", home.config.display());
    println!(
        "  vault       {} (AES-256-GCM; holds the API key as `api_key`)",
        vault_path.display()
    );
    println!("  agent       {}", agent_path.display());
    println!(
        "  audit key   {} ({audit_public}; verify with `rampart audit verify --public-key $(cat {})`)",
        pub_path.display(),
        pub_path.display()
    );
    println!("  peer key    {peer_public} (this node's identity for [network] peers)");
    println!();
    println!("API key (shown once; clients send it as \"Authorization: Bearer KEY\"):");
    println!("  {key}");
    if provider != ProviderKind::Scripted {
        let entry = if provider == ProviderKind::Openai {
            "openai_api_key"
        } else {
            "anthropic_api_key"
        };
        println!();
        println!("Store the provider's key:  rampart vault set {entry}");
    }
    println!("Then run:                  rampart start");
    Ok(ExitCode::SUCCESS)
}
