//! `rampart vault set|list|rm|passwd` (SPEC V1–V6).

use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;

use rampart_vault::passphrase::PassphraseReader;
use rampart_vault::{PassphraseOptions, SecretString, Vault};
use zeroize::Zeroizing;

use crate::cli::VaultCommand;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::{open_vault, vault_error};

/// The largest secret value read from stdin.
///
/// # Security
/// Bounds what a runaway pipe can make `vault set` buffer; real keys and tokens are far shorter.
const MAX_VALUE_INPUT: u64 = 64 * 1024;

pub(crate) fn run(home: &Home, cmd: VaultCommand, from_stdin: bool) -> Result<ExitCode, CliError> {
    let path = rampart_vault::vault_path(&home.dir);
    match cmd {
        VaultCommand::List => {
            let vault = open_vault(&path, from_stdin)?;
            for name in vault.names() {
                println!("{name}");
            }
        }
        VaultCommand::Set { name } => {
            rampart_vault::validate_name(&name).map_err(vault_error)?;
            let mut reader = PassphraseReader::from_process();
            let pass = reader
                .passphrase(PassphraseOptions {
                    from_stdin,
                    confirm: false,
                })
                .map_err(vault_error)?;
            let mut vault = Vault::open(&path, &pass).map_err(vault_error)?;
            let value = read_value(&name, reader.stdin())?;
            vault.set(&name, value).map_err(vault_error)?;
            vault.save().map_err(vault_error)?;
            eprintln!("stored {name} in {}", path.display());
        }
        VaultCommand::Rm { name } => {
            let mut vault = open_vault(&path, from_stdin)?;
            if !vault.remove(&name) {
                return Err(CliError::usage(anyhow::anyhow!(
                    "the vault has no entry named {name:?}"
                )));
            }
            vault.save().map_err(vault_error)?;
            eprintln!("removed {name}");
        }
        VaultCommand::Passwd => {
            let mut reader = PassphraseReader::from_process();
            let options = PassphraseOptions {
                from_stdin,
                confirm: false,
            };
            let pass = reader.passphrase(options).map_err(vault_error)?;
            let mut vault = Vault::open(&path, &pass).map_err(vault_error)?;
            let new = reader.new_passphrase(options).map_err(vault_error)?;
            vault.change_passphrase(&new).map_err(vault_error)?;
            eprintln!("passphrase changed; the old one no longer opens the vault");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The secret's value: asked without echo on a terminal, else the rest of stdin with one
/// trailing newline removed. Never from the command line, where `ps` and shell history see it.
fn read_value(name: &str, rest: &mut impl std::io::Read) -> Result<SecretString, CliError> {
    let value = if std::io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password(format!("Value for {name}: "))
                .map_err(|e| CliError::runtime(anyhow::anyhow!("reading the value: {e}")))?,
        )
    } else {
        let mut buf = Zeroizing::new(String::new());
        rest.take(MAX_VALUE_INPUT + 1)
            .read_to_string(&mut buf)
            .map_err(|e| CliError::usage(anyhow::anyhow!("reading the value from stdin: {e}")))?;
        if buf.len() as u64 > MAX_VALUE_INPUT {
            return Err(CliError::usage(anyhow::anyhow!(
                "the value is longer than {MAX_VALUE_INPUT} bytes"
            )));
        }
        let trimmed = buf
            .strip_suffix('\n')
            .map(|s| s.strip_suffix('\r').unwrap_or(s))
            .unwrap_or(&buf);
        Zeroizing::new(trimmed.to_owned())
    };
    if value.is_empty() {
        return Err(CliError::usage(anyhow::anyhow!(
            "empty value: nothing stored"
        )));
    }
    Ok(SecretString::from(value.as_str().to_owned()))
}
