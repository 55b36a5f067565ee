//! [`WorkspacePath`]: a path inside a workspace, parsed once from untrusted text.
//!
//! The model sends paths as strings. Instead of checking a string and then handing it to the
//! operating system (which would interpret `..`, absolute paths and symlinks its own way), the
//! string is split into plain *names*: each one is a single directory entry name with no `/`, no
//! NUL, and never `.` or `..`. The workspace then walks those names one at a time from its own
//! directory handle. Nothing is ever percent-decoded: `%2e%2e` is a literal file name.

use std::fmt;

use crate::SandboxError;

/// Longest path text accepted, in bytes.
///
/// # Security
/// Bounds the work done per call and keeps error messages and audit events small. Linux's own
/// `PATH_MAX` is 4096; no legitimate workspace path an agent writes needs more than a quarter of it.
pub const MAX_PATH_LEN: usize = 1024;

/// Longest single name (path component) accepted, in bytes.
///
/// # Security
/// Matches Linux `NAME_MAX` (255), so a name that passes here never fails later with
/// `ENAMETOOLONG` in a way that could be confused with another error.
pub const MAX_NAME_LEN: usize = 255;

/// Deepest nesting accepted, in components.
///
/// # Security
/// Each component costs one `openat` while walking; this caps the system calls per request.
pub const MAX_DEPTH: usize = 32;

/// Prefix of the temporary files that atomic writes create. Names starting with it are refused so
/// that the model can neither read a half-written file nor interfere with a write in progress.
pub(crate) const TEMP_PREFIX: &str = ".rampart-tmp-";

/// Why a path string was refused before touching the filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathRejection {
    /// The path was empty (or only `.` and `/` separators) where a file was needed.
    Empty,
    /// The path contained a NUL byte, which the OS would silently truncate at.
    NulByte,
    /// The path contained another control character (newline, escape, …).
    ControlCharacter,
    /// The path started with `/`: workspace paths are always relative.
    Absolute,
    /// A component was `..`.
    ParentComponent,
    /// The path contained a backslash, a separator on Windows and a source of confusion here.
    Backslash,
    /// The path was longer than [`MAX_PATH_LEN`].
    TooLong,
    /// A component was longer than [`MAX_NAME_LEN`].
    NameTooLong,
    /// The path had more than [`MAX_DEPTH`] components.
    TooDeep,
    /// A component used the prefix reserved for in-flight atomic writes.
    Reserved,
}

impl fmt::Display for PathRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the path is empty",
            Self::NulByte => "the path contains a NUL byte",
            Self::ControlCharacter => "the path contains a control character",
            Self::Absolute => {
                "absolute paths are not allowed; use a path relative to the workspace"
            }
            Self::ParentComponent => "'..' is not allowed",
            Self::Backslash => "backslashes are not allowed; use '/'",
            Self::TooLong => "the path is too long",
            Self::NameTooLong => "a path component is too long",
            Self::TooDeep => "the path is nested too deeply",
            Self::Reserved => "the name is reserved for Rampart's temporary files",
        })
    }
}

/// A relative path inside a workspace: a list of plain names, each safe to pass to `openat`.
///
/// ```
/// use rampart_sandbox::WorkspacePath;
///
/// let p = WorkspacePath::parse("notes/./today.md").unwrap();
/// assert_eq!(p.to_string(), "notes/today.md");
/// assert!(WorkspacePath::parse("../etc/passwd").is_err());
/// assert!(WorkspacePath::parse("/etc/passwd").is_err());
/// // Never decoded: this is a directory literally named "%2e%2e".
/// assert_eq!(WorkspacePath::parse("%2e%2e/x").unwrap().names().next(), Some("%2e%2e"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspacePath {
    names: Vec<String>,
}

impl WorkspacePath {
    /// The workspace root itself (used by `list` with no path).
    #[must_use]
    pub fn root() -> Self {
        Self { names: Vec::new() }
    }

    /// Parses untrusted path text. `.` components and repeated `/` are dropped; everything that
    /// could name something outside the workspace is refused with the reason.
    ///
    /// # Errors
    /// [`SandboxError::InvalidPath`] with a [`PathRejection`].
    pub fn parse(text: &str) -> Result<Self, SandboxError> {
        let reject = |reason| SandboxError::InvalidPath {
            path: crate::error::shown(text),
            reason,
        };
        if text.len() > MAX_PATH_LEN {
            return Err(reject(PathRejection::TooLong));
        }
        if text.contains('\0') {
            return Err(reject(PathRejection::NulByte));
        }
        if text.chars().any(char::is_control) {
            return Err(reject(PathRejection::ControlCharacter));
        }
        if text.contains('\\') {
            return Err(reject(PathRejection::Backslash));
        }
        if text.starts_with('/') {
            return Err(reject(PathRejection::Absolute));
        }
        let mut names = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(reject(PathRejection::ParentComponent)),
                name if name.len() > MAX_NAME_LEN => {
                    return Err(reject(PathRejection::NameTooLong));
                }
                name if name.starts_with(TEMP_PREFIX) => {
                    return Err(reject(PathRejection::Reserved));
                }
                name => names.push(name.to_owned()),
            }
            if names.len() > MAX_DEPTH {
                return Err(reject(PathRejection::TooDeep));
            }
        }
        Ok(Self { names })
    }

    /// Like [`parse`](Self::parse) but refuses the workspace root (for reads, writes, deletes).
    ///
    /// # Errors
    /// As `parse`, plus [`PathRejection::Empty`].
    pub fn parse_file(text: &str) -> Result<Self, SandboxError> {
        let path = Self::parse(text)?;
        if path.names.is_empty() {
            return Err(SandboxError::InvalidPath {
                path: crate::error::shown(text),
                reason: PathRejection::Empty,
            });
        }
        Ok(path)
    }

    /// The names, outermost first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// True for the workspace root.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.names.is_empty()
    }

    /// Splits into the parent directory's names and the final name (`None` for the root).
    pub(crate) fn split_last(&self) -> Option<(&[String], &str)> {
        self.names
            .split_last()
            .map(|(last, parents)| (parents, last.as_str()))
    }

    /// All names (for walking directories).
    pub(crate) fn components(&self) -> &[String] {
        &self.names
    }
}

impl fmt::Display for WorkspacePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.names.is_empty() {
            return f.write_str(".");
        }
        f.write_str(&self.names.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> PathRejection {
        match WorkspacePath::parse(text) {
            Err(SandboxError::InvalidPath { reason, .. }) => reason,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn refuses_each_escape_with_its_reason() {
        assert_eq!(reason("../x"), PathRejection::ParentComponent);
        assert_eq!(reason("a/../../x"), PathRejection::ParentComponent);
        assert_eq!(reason("/etc/passwd"), PathRejection::Absolute);
        assert_eq!(reason("a\0b"), PathRejection::NulByte);
        assert_eq!(reason("a\nb"), PathRejection::ControlCharacter);
        assert_eq!(reason("..\\x"), PathRejection::Backslash);
        assert_eq!(
            reason(&"a".repeat(MAX_PATH_LEN + 1)),
            PathRejection::TooLong
        );
        assert_eq!(
            reason(&"a".repeat(MAX_NAME_LEN + 1)),
            PathRejection::NameTooLong
        );
        assert_eq!(reason(&"a/".repeat(MAX_DEPTH + 1)), PathRejection::TooDeep);
        assert_eq!(reason(".rampart-tmp-abc"), PathRejection::Reserved);
    }

    #[test]
    fn normalises_harmless_forms() {
        let p = WorkspacePath::parse("./a//b/./c/").unwrap();
        assert_eq!(p.names().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(WorkspacePath::parse("").unwrap().is_root());
        assert!(WorkspacePath::parse_file("./").is_err());
        // Names that merely look like traversal are ordinary names.
        for literal in ["%2e%2e", "...", "..a", "a..", "%2f", "~", "C:"] {
            let p = WorkspacePath::parse(literal).unwrap();
            assert_eq!(p.names().collect::<Vec<_>>(), [literal]);
        }
    }
}
