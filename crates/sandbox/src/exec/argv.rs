//! Command text → argv, and the program allowlist: no shell unless policy allows one.

use std::path::{Path, PathBuf};

/// The longest command text accepted, in bytes.
///
/// # Security
/// Command text comes from the model; a bound keeps parsing and the audit record small.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024;

/// The most argv entries accepted.
///
/// # Security
/// Bounds the work of parsing and of the exec call.
pub const MAX_ARGS: usize = 256;

/// Programs that would run arbitrary other programs or a shell, refused as argv\[0\] unless a
/// shell is allowed (`env sh -c …`, `xargs sh`, `nice bash`, …).
pub const SHELL_LIKE: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox", "env", "xargs", "nice",
    "nohup", "timeout", "setsid", "stdbuf", "chroot", "sudo", "su", "doas", "script", "find",
    "awk", "gawk", "mawk", "perl", "python", "python3", "ruby", "node", "lua", "php", "tclsh",
    "expect", "watch", "strace", "gdb", "unshare", "nsenter", "flock", "ionice", "taskset", "time",
    "exec", "eval", "command", "builtin",
];

/// Why a command was refused before anything ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandRejection {
    /// Empty, too long, too many arguments, NUL bytes, or unbalanced quotes.
    #[error("command refused: {0}")]
    Malformed(String),
    /// The program is not on the allowlist.
    #[error("program `{0}` is not allowed; allowed programs: {1}")]
    NotAllowed(String, String),
    /// The program would run a shell or another program, and a shell is not allowed.
    #[error(
        "program `{0}` runs other programs or a shell, which this agent's policy does not allow"
    )]
    ShellLike(String),
    /// The program was not found in the system directories.
    #[error("program `{0}` was not found")]
    NotFound(String),
}

/// How a command line becomes a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Run `argv[0]` (resolved to an absolute path) with the rest as arguments. No shell.
    Direct {
        /// The resolved program.
        program: PathBuf,
        /// The arguments after the program.
        args: Vec<String>,
    },
    /// `/bin/sh -c TEXT`: only when the policy allows a shell.
    Shell {
        /// The command text.
        text: String,
    },
}

/// The directories programs are looked up in (never the workspace, never `$PATH` from anywhere).
pub const PROGRAM_DIRS: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

/// Parses `command` into an [`Invocation`]. Without `allow_shell`, the text is split like a
/// POSIX shell would split words (quotes, backslashes) but no shell runs it: `;`, `|`, `$(…)`
/// and globs are just characters in arguments. The program must be a bare name on `allowed`
/// (an empty list allows none) and not [`SHELL_LIKE`].
///
/// # Errors
/// [`CommandRejection`].
pub fn parse_command(
    command: &str,
    allowed: &[String],
    allow_shell: bool,
) -> Result<Invocation, CommandRejection> {
    if command.trim().is_empty() {
        return Err(CommandRejection::Malformed("empty command".into()));
    }
    if command.len() > MAX_COMMAND_BYTES {
        return Err(CommandRejection::Malformed(format!(
            "longer than {MAX_COMMAND_BYTES} bytes"
        )));
    }
    if command.contains('\0') {
        return Err(CommandRejection::Malformed("NUL byte".into()));
    }
    if allow_shell {
        return Ok(Invocation::Shell {
            text: command.to_owned(),
        });
    }
    let argv = shell_words::split(command)
        .map_err(|_| CommandRejection::Malformed("unbalanced quotes".into()))?;
    if argv.len() > MAX_ARGS {
        return Err(CommandRejection::Malformed(format!(
            "more than {MAX_ARGS} arguments"
        )));
    }
    let Some((name, args)) = argv.split_first() else {
        return Err(CommandRejection::Malformed("empty command".into()));
    };
    let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if name.contains('/') || name.starts_with('.') || name.starts_with('-') {
        return Err(CommandRejection::NotAllowed(shown, allowed.join(", ")));
    }
    if SHELL_LIKE.contains(&name.as_str()) {
        return Err(CommandRejection::ShellLike(shown));
    }
    if !allowed.iter().any(|a| a == name) {
        return Err(CommandRejection::NotAllowed(shown, allowed.join(", ")));
    }
    let program = PROGRAM_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or(CommandRejection::NotFound(shown))?;
    Ok(Invocation::Direct {
        program,
        args: args.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn shell_syntax_is_not_interpreted() {
        let inv = parse_command("echo 'a b' ; rm -rf / $(id)", &allow(&["echo"]), false).unwrap();
        let Invocation::Direct { program, args } = inv else {
            panic!("no shell expected")
        };
        assert!(program.ends_with("echo"));
        assert_eq!(args, ["a b", ";", "rm", "-rf", "/", "$(id)"]);
    }

    #[test]
    fn allowlist_walkarounds_are_refused() {
        let allowed = allow(&["echo", "env", "sh"]);
        for cmd in [
            "env sh -c 'cat /etc/shadow'",
            "sh -c id",
            "/bin/sh -c id",
            "./evil",
            "../../bin/sh",
            "xargs sh",
            "busybox sh",
            "python3 -c 'import os'",
        ] {
            assert!(
                parse_command(cmd, &allowed, false).is_err(),
                "{cmd} was accepted"
            );
        }
        assert!(matches!(
            parse_command("cat x", &allowed, false),
            Err(CommandRejection::NotAllowed(..))
        ));
        assert!(matches!(
            parse_command("echo \"unbalanced", &allowed, false),
            Err(CommandRejection::Malformed(_))
        ));
        assert!(parse_command("", &allowed, false).is_err());
        assert!(parse_command("echo a\0b", &allowed, false).is_err());
    }

    #[test]
    fn shell_only_when_allowed() {
        assert_eq!(
            parse_command("echo a | wc -c", &[], true).unwrap(),
            Invocation::Shell {
                text: "echo a | wc -c".into()
            }
        );
    }
}
