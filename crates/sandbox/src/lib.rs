//! # rampart-sandbox
//!
//! Confined execution for the tools an agent runs. This crate holds the file-system half: a
//! [`Workspace`] is an agent's directory (`$RAMPART_HOME/workspace/NAME/`, CONTRACT) opened once
//! as a directory handle with [`cap_std`], through which `file_read`, `file_write`,
//! `file_delete` and `file_list` do all their work (SPEC T1).
//!
//! ## Trust assumptions
//! - The *path text* comes from the model and is hostile: it is parsed into a
//!   [`WorkspacePath`] of plain names (no `..`, no absolute paths, no NUL or control bytes, no
//!   decoding of `%2e`-style escapes, bounded length and depth) before anything is opened.
//! - The *contents* of the workspace are hostile too: other tools (`shell_exec`) or the user may
//!   have planted symlinks, hard links, FIFOs, or may swap entries while a call runs. Every name
//!   is opened relative to a directory handle with `O_NOFOLLOW`, so symlinks — dangling or
//!   swapped in mid-call — are refused by the open itself (no check-then-use window), and the
//!   opened file's type and link count are read from the handle (`fstat`).
//! - The workspace root path comes from Rampart's configuration and is trusted.
//!
//! See `docs/tools.md` for what this does and doesn't stop.
//!
//! ```
//! use rampart_sandbox::{SandboxError, Workspace, WorkspaceOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let ws = Workspace::open(dir.path(), WorkspaceOptions::default()).unwrap();
//! ws.write("notes/today.md", b"hello").unwrap();
//! assert_eq!(ws.read("notes/today.md").unwrap(), b"hello");
//! assert_eq!(ws.list("notes").unwrap().entries[0].name, "today.md");
//! assert!(matches!(ws.read("../etc/passwd"), Err(SandboxError::InvalidPath { .. })));
//! ws.delete("notes/today.md").unwrap();
//! ```

// `deny`, not `forbid`: exactly one `#[allow(unsafe_code)]` block exists, the `pre_exec` hook in
// exec/limits.rs (documented with `// SAFETY:`).
#![deny(unsafe_code)]

mod error;
pub mod exec;
mod path;
mod workspace;

pub use error::{MAX_SHOWN_PATH_CHARS, SandboxError};
pub use path::{MAX_DEPTH, MAX_NAME_LEN, MAX_PATH_LEN, PathRejection, WorkspacePath};
pub use workspace::{
    DEFAULT_MAX_LIST_ENTRIES, DEFAULT_MAX_READ_BYTES, DEFAULT_MAX_WRITE_BYTES, Entry, EntryKind,
    Listing, Workspace, WorkspaceOptions,
};
