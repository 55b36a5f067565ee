//! Where the vault passphrase comes from (CONTRACT.md "Non-interactive secrets").
//!
//! In order: the first line of stdin with `--passphrase-stdin`, else `RAMPART_VAULT_PASSPHRASE`,
//! else a prompt without echo on the terminal. The new passphrase of `vault passwd` comes from the
//! second line of stdin with `--passphrase-stdin`, else `RAMPART_VAULT_NEW_PASSPHRASE`, else a
//! prompt. When a prompt would be needed but stdin is not a terminal, the answer is
//! [`VaultError::NoPassphraseSource`] (exit 2), never a wait.
//!
//! One trailing `\n` or `\r\n` is removed from a stdin line; nothing else is trimmed, from any
//! source. Environment variables are read, not removed (the sandboxed tools never inherit them:
//! they run with `env_clear()`).

use std::fmt;
use std::io::{self, BufRead, IsTerminal as _, Read as _, StdinLock};

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::{MAX_PASSPHRASE_LEN, VaultError};

/// The environment variable holding the vault passphrase.
pub const PASSPHRASE_ENV: &str = "RAMPART_VAULT_PASSPHRASE";
/// The environment variable holding the new passphrase for `vault passwd`.
pub const NEW_PASSPHRASE_ENV: &str = "RAMPART_VAULT_NEW_PASSPHRASE";

/// How the command was asked to get its passphrase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassphraseOptions {
    /// `--passphrase-stdin`: read the passphrase from stdin's first line (the new one, for
    /// `vault passwd`, from the second).
    pub from_stdin: bool,
    /// When prompting, ask twice and require both answers to match (`init`, new passphrases).
    pub confirm: bool,
}

/// The prompt function: shows the prompt and reads a line without echo.
type PromptFn<'a> = dyn FnMut(&str) -> io::Result<String> + 'a;
/// The environment lookup.
type EnvFn<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Reads passphrases from stdin, the environment or a prompt, in the contract's order.
///
/// [`PassphraseReader::from_process`] uses the real stdin, environment and terminal; tests build
/// one with [`PassphraseReader::new`]. After the passphrase lines, the same reader gives the rest of
/// stdin through [`PassphraseReader::stdin`] (for `vault set NAME --passphrase-stdin`, whose value
/// follows the passphrase line).
pub struct PassphraseReader<'a, R> {
    stdin: R,
    stdin_is_terminal: bool,
    env: Box<EnvFn<'a>>,
    prompt: Box<PromptFn<'a>>,
    lines_read: u8,
}

impl<R> fmt::Debug for PassphraseReader<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseReader")
            .field("stdin_is_terminal", &self.stdin_is_terminal)
            .field("lines_read", &self.lines_read)
            .finish_non_exhaustive()
    }
}

impl PassphraseReader<'static, StdinLock<'static>> {
    /// The process's stdin, environment, and a no-echo prompt on the terminal (`rpassword`).
    #[must_use]
    pub fn from_process() -> Self {
        let stdin = io::stdin();
        let is_terminal = stdin.is_terminal();
        Self::new(
            stdin.lock(),
            is_terminal,
            |k| std::env::var(k).ok(),
            |p: &str| rpassword::prompt_password(p),
        )
    }
}

impl<'a, R: BufRead> PassphraseReader<'a, R> {
    /// A reader over explicit sources: `stdin`, whether stdin is a terminal (prompting is allowed
    /// only then), an environment lookup and a no-echo prompt.
    pub fn new(
        stdin: R,
        stdin_is_terminal: bool,
        env: impl Fn(&str) -> Option<String> + 'a,
        prompt: impl FnMut(&str) -> io::Result<String> + 'a,
    ) -> Self {
        Self {
            stdin,
            stdin_is_terminal,
            env: Box::new(env),
            prompt: Box::new(prompt),
            lines_read: 0,
        }
    }

    /// The current passphrase: stdin line 1, else `RAMPART_VAULT_PASSPHRASE`, else a prompt
    /// (asked twice when `options.confirm`, as `init` does).
    ///
    /// # Errors
    /// [`VaultError::NoPassphraseSource`], [`VaultError::MissingStdinLine`],
    /// [`VaultError::EmptyPassphrase`], [`VaultError::PassphraseMismatch`], and the length and
    /// UTF-8 errors.
    pub fn passphrase(&mut self, options: PassphraseOptions) -> Result<SecretString, VaultError> {
        if options.from_stdin {
            return self.stdin_line(0);
        }
        self.env_or_prompt(PASSPHRASE_ENV, "Vault passphrase: ", options.confirm)
    }

    /// The new passphrase of `vault passwd`: stdin line 2, else `RAMPART_VAULT_NEW_PASSPHRASE`,
    /// else a prompt, always asked twice. Call it after [`passphrase`](Self::passphrase).
    ///
    /// # Errors
    /// As [`passphrase`](Self::passphrase).
    pub fn new_passphrase(
        &mut self,
        options: PassphraseOptions,
    ) -> Result<SecretString, VaultError> {
        if options.from_stdin {
            return self.stdin_line(1);
        }
        self.env_or_prompt(NEW_PASSPHRASE_ENV, "New vault passphrase: ", true)
    }

    /// The rest of stdin, after the passphrase lines were read.
    pub fn stdin(&mut self) -> &mut R {
        &mut self.stdin
    }

    fn stdin_line(&mut self, index: u8) -> Result<SecretString, VaultError> {
        let line = if index == 0 { "first" } else { "second" };
        while self.lines_read < index {
            // The first line was not taken yet: take and drop it (zeroized).
            let _ = self.read_line(line)?;
        }
        let bytes = self.read_line(line)?;
        to_secret(&bytes, "stdin")
    }

    fn read_line(&mut self, line: &'static str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        // Room for the longest passphrase, "\r\n", and one byte to detect overflow.
        let cap = MAX_PASSPHRASE_LEN + 3;
        let mut buf = Zeroizing::new(Vec::with_capacity(cap));
        let limit = u64::try_from(cap).unwrap_or(u64::MAX);
        let n = (&mut self.stdin)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|source| VaultError::Io {
                context: "cannot read passphrase from",
                path: "stdin".into(),
                source,
            })?;
        self.lines_read = self.lines_read.saturating_add(1);
        if n == 0 {
            return Err(VaultError::MissingStdinLine { line });
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        Ok(buf)
    }

    fn env_or_prompt(
        &mut self,
        var: &'static str,
        prompt: &str,
        confirm: bool,
    ) -> Result<SecretString, VaultError> {
        if let Some(value) = (self.env)(var) {
            return to_secret(&Zeroizing::new(value.into_bytes()), var);
        }
        if !self.stdin_is_terminal {
            return Err(VaultError::NoPassphraseSource { env_var: var });
        }
        let first = self.ask(prompt)?;
        if confirm {
            let again = self.ask("Repeat to confirm: ")?;
            if !crate::constant_time_eq(&first, &again) {
                return Err(VaultError::PassphraseMismatch);
            }
        }
        to_secret(&first, "prompt")
    }

    fn ask(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        (self.prompt)(prompt)
            .map(|s| Zeroizing::new(s.into_bytes()))
            .map_err(|source| VaultError::Io {
                context: "cannot prompt for passphrase on",
                path: "the terminal".into(),
                source,
            })
    }
}

fn to_secret(bytes: &[u8], source_name: &'static str) -> Result<SecretString, VaultError> {
    if bytes.is_empty() {
        return Err(VaultError::EmptyPassphrase { source_name });
    }
    if bytes.len() > MAX_PASSPHRASE_LEN {
        return Err(VaultError::PassphraseTooLong {
            max: MAX_PASSPHRASE_LEN,
        });
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| VaultError::PassphraseNotUtf8 { source_name })?;
    Ok(SecretString::from(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Cursor;

    use secrecy::ExposeSecret as _;

    use super::*;

    fn reader<'a>(
        stdin: &'a str,
        tty: bool,
        env: &'a HashMap<&'static str, &'static str>,
        answers: &'a mut Vec<&'static str>,
    ) -> PassphraseReader<'a, Cursor<&'a [u8]>> {
        PassphraseReader::new(
            Cursor::new(stdin.as_bytes()),
            tty,
            move |k| env.get(k).map(|v| (*v).to_owned()),
            move |_| {
                if answers.is_empty() {
                    Err(io::Error::other("no more answers"))
                } else {
                    Ok(answers.remove(0).to_owned())
                }
            },
        )
    }

    const STDIN: PassphraseOptions = PassphraseOptions {
        from_stdin: true,
        confirm: false,
    };
    const DEFAULT: PassphraseOptions = PassphraseOptions {
        from_stdin: false,
        confirm: false,
    };

    #[test]
    fn stdin_lines_come_first_and_leave_the_rest() {
        let env = HashMap::from([(PASSPHRASE_ENV, "from-env")]);
        let mut answers = vec![];
        let mut r = reader(
            "old pass\r\nnew pass\nthe value\n",
            false,
            &env,
            &mut answers,
        );
        assert_eq!(r.passphrase(STDIN).unwrap().expose_secret(), "old pass");
        assert_eq!(r.new_passphrase(STDIN).unwrap().expose_secret(), "new pass");
        let mut rest = String::new();
        r.stdin().read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "the value\n");
    }

    #[test]
    fn new_passphrase_alone_skips_the_first_line() {
        let env = HashMap::new();
        let mut answers = vec![];
        let mut r = reader("one\ntwo", false, &env, &mut answers);
        assert_eq!(r.new_passphrase(STDIN).unwrap().expose_secret(), "two");
    }

    #[test]
    fn env_comes_before_the_prompt() {
        let env = HashMap::from([
            (PASSPHRASE_ENV, "from-env"),
            (NEW_PASSPHRASE_ENV, "new-env"),
        ]);
        let mut answers = vec!["typed"];
        let mut r = reader("", true, &env, &mut answers);
        assert_eq!(r.passphrase(DEFAULT).unwrap().expose_secret(), "from-env");
        assert_eq!(
            r.new_passphrase(DEFAULT).unwrap().expose_secret(),
            "new-env"
        );
    }

    #[test]
    fn no_terminal_and_no_source_fails_instead_of_hanging() {
        let env = HashMap::new();
        let mut answers = vec!["never asked"];
        let mut r = reader("", false, &env, &mut answers);
        let err = r.passphrase(DEFAULT).unwrap_err();
        assert!(matches!(
            err,
            VaultError::NoPassphraseSource {
                env_var: PASSPHRASE_ENV
            }
        ));
        assert_eq!(err.exit_code(), 2);
        assert!(matches!(
            r.new_passphrase(DEFAULT),
            Err(VaultError::NoPassphraseSource {
                env_var: NEW_PASSPHRASE_ENV
            })
        ));
        // --passphrase-stdin with nothing on stdin is a clear error too.
        assert!(matches!(
            r.passphrase(STDIN),
            Err(VaultError::MissingStdinLine { line: "first" })
        ));
    }

    #[test]
    fn prompt_confirms_when_asked() {
        let env = HashMap::new();
        let mut answers = vec!["same pass", "same pass", "one", "other"];
        let mut r = reader("", true, &env, &mut answers);
        let confirm = PassphraseOptions {
            from_stdin: false,
            confirm: true,
        };
        assert_eq!(r.passphrase(confirm).unwrap().expose_secret(), "same pass");
        assert!(matches!(
            r.passphrase(confirm),
            Err(VaultError::PassphraseMismatch)
        ));
    }

    #[test]
    fn empty_long_and_binary_passphrases_are_refused() {
        let env = HashMap::from([(PASSPHRASE_ENV, "")]);
        let mut answers = vec![];
        let mut r = reader("\n", false, &env, &mut answers);
        assert!(matches!(
            r.passphrase(STDIN),
            Err(VaultError::EmptyPassphrase { .. })
        ));
        assert!(matches!(
            r.passphrase(DEFAULT),
            Err(VaultError::EmptyPassphrase { .. })
        ));

        let long = format!("{}\n", "x".repeat(MAX_PASSPHRASE_LEN + 5));
        let env = HashMap::new();
        let mut answers = vec![];
        let mut r = reader(&long, false, &env, &mut answers);
        assert!(matches!(
            r.passphrase(STDIN),
            Err(VaultError::PassphraseTooLong { .. })
        ));

        let mut r = PassphraseReader::new(
            Cursor::new(&b"\xff\xfe\n"[..]),
            false,
            |_| None,
            |_| Err(io::Error::other("no")),
        );
        assert!(matches!(
            r.passphrase(STDIN),
            Err(VaultError::PassphraseNotUtf8 { .. })
        ));
    }
}
