//! [`Workspace`]: an agent's directory, held as an open directory handle, and the four file
//! operations the tools need.
//!
//! # How confinement works
//! The workspace root is opened once as a directory file descriptor (a `cap_std::fs::Dir`).
//! Every operation walks the parsed [`WorkspacePath`] one name at a time with `openat`-style
//! calls relative to that handle: never a path string handed to the kernel to resolve.
//!
//! With `allow_symlinks = false` (the default) every intermediate directory is opened with
//! `O_NOFOLLOW | O_DIRECTORY` and the final file with `O_NOFOLLOW`, so a symlink anywhere in the
//! path makes the open itself fail. Because the check *is* the open, there is no window between
//! a check and a use: a symlink swapped in during the call is refused just the same.
//! After opening, the file's type, size and link count are read from the open handle (`fstat`),
//! not from the name, so they describe exactly the inode that will be read.
//!
//! With `allow_symlinks = true`, cap-std's own resolver follows links but still refuses any that
//! lead outside the root.

use std::io::{self, Read, Write};
use std::path::Path;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, File, MetadataExt, OpenOptions, OpenOptionsExt};

use crate::path::TEMP_PREFIX;
use crate::{SandboxError, WorkspacePath};

/// Default largest file `read` returns, in bytes.
///
/// # Security
/// Bounds memory per call and, with the tool-output cap, what reaches the model. A file that
/// grows while it is read is cut off at this limit plus one byte and refused.
pub const DEFAULT_MAX_READ_BYTES: u64 = 1024 * 1024;

/// Default largest content `write` accepts, in bytes.
///
/// # Security
/// Bounds disk use per call; `max_file_writes` in the agent's capabilities bounds the count.
pub const DEFAULT_MAX_WRITE_BYTES: u64 = 1024 * 1024;

/// Default most entries `list` returns before truncating.
///
/// # Security
/// Bounds memory and output for a directory with a huge number of entries.
pub const DEFAULT_MAX_LIST_ENTRIES: usize = 1000;

/// Permission bits for files and directories the workspace creates: owner only.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// How a workspace behaves. `Default` is the secure configuration (CONTRACT `[security]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceOptions {
    /// Follow symbolic links that stay inside the workspace. Default `false`: any symlink in a
    /// path, dangling or not, is refused.
    pub allow_symlinks: bool,
    /// Largest file `read` returns ([`DEFAULT_MAX_READ_BYTES`]).
    pub max_read_bytes: u64,
    /// Largest content `write` accepts ([`DEFAULT_MAX_WRITE_BYTES`]).
    pub max_write_bytes: u64,
    /// Most entries `list` returns ([`DEFAULT_MAX_LIST_ENTRIES`]).
    pub max_list_entries: usize,
}

impl Default for WorkspaceOptions {
    fn default() -> Self {
        Self {
            allow_symlinks: false,
            max_read_bytes: DEFAULT_MAX_READ_BYTES,
            max_write_bytes: DEFAULT_MAX_WRITE_BYTES,
            max_list_entries: DEFAULT_MAX_LIST_ENTRIES,
        }
    }
}

/// What kind of thing a listed entry is (the entry itself, links are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (shown, never followed).
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name (non-UTF-8 bytes replaced with U+FFFD).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// Its size in bytes as `lstat` reports it.
    pub size: u64,
}

/// A directory listing, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The entries, at most `max_list_entries`.
    pub entries: Vec<Entry>,
    /// True when entries were left out because of the limit.
    pub truncated: bool,
}

/// An agent's workspace directory. See the [module docs](self) for how it confines.
#[derive(Debug)]
pub struct Workspace {
    root: Dir,
    options: WorkspaceOptions,
}

impl Workspace {
    /// Opens an existing directory as a workspace. The `root` path itself is trusted (it comes
    /// from Rampart's configuration, not from the model) but must not be a symlink.
    ///
    /// # Errors
    /// [`SandboxError::Workspace`] when the directory can't be opened.
    pub fn open(root: &Path, options: WorkspaceOptions) -> Result<Self, SandboxError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(root)
            .map_err(SandboxError::Workspace)?;
        Ok(Self {
            root: Dir::from_std_file(file),
            options,
        })
    }

    /// Opens (creating if needed, mode 0700) `HOME/workspace/NAME/`, the agent's workspace
    /// as CONTRACT lays it out.
    ///
    /// # Errors
    /// [`SandboxError::Workspace`] when it can't be created or opened.
    pub fn open_for_agent(
        home: &Path,
        agent: &rampart_core::AgentName,
        options: WorkspaceOptions,
    ) -> Result<Self, SandboxError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let root = home.join("workspace").join(agent.as_str());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&root)
            .map_err(SandboxError::Workspace)?;
        Self::open(&root, options)
    }

    /// Opens a workspace on an already-open directory handle.
    #[must_use]
    pub fn from_dir(root: Dir, options: WorkspaceOptions) -> Self {
        Self { root, options }
    }

    /// The options in force.
    #[must_use]
    pub fn options(&self) -> &WorkspaceOptions {
        &self.options
    }

    /// Reads a whole regular file, at most `max_read_bytes`.
    ///
    /// # Errors
    /// [`SandboxError::InvalidPath`], [`SymlinkRefused`](SandboxError::SymlinkRefused),
    /// [`HardLinkRefused`](SandboxError::HardLinkRefused) (a second name may live outside the
    /// workspace, and the file is the same inode), [`NotAFile`](SandboxError::NotAFile),
    /// [`TooLarge`](SandboxError::TooLarge), [`NotFound`](SandboxError::NotFound), I/O errors.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let parsed = WorkspacePath::parse_file(path)?;
        let (parents, name) = split(&parsed);
        let dir = self.walk(parents, path, false)?;
        let mut opts = OpenOptions::new();
        opts.read(true)
            // A FIFO would block `open` forever without O_NONBLOCK; a tty must not become ours.
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .follow(self.follow());
        let file = dir
            .open_with(name, &opts)
            .map_err(|e| self.classify(&dir, name, path, e))?;
        let meta = self.check_regular(&file, path)?;
        let limit = self.options.max_read_bytes;
        if meta.len() > limit {
            return Err(SandboxError::TooLarge {
                path: path.to_owned(),
                size: meta.len(),
                limit,
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        (&file)
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|source| io_err(path, source))?;
        if buf.len() as u64 > limit {
            return Err(SandboxError::TooLarge {
                path: path.to_owned(),
                size: buf.len() as u64,
                limit,
            });
        }
        Ok(buf)
    }

    /// Writes a whole file atomically: a fresh temporary file in the same directory (created
    /// exclusively, never following links), fsync, rename over the target, fsync the directory.
    /// Missing parent directories are created. A reader never sees a half-written file, and a
    /// link planted at the target is *replaced*, never written through.
    ///
    /// # Errors
    /// [`SandboxError::TooLarge`] beyond `max_write_bytes`; the path errors of [`read`](Self::read);
    /// [`NotAFile`](SandboxError::NotAFile) when the target is a directory.
    pub fn write(&self, path: &str, content: &[u8]) -> Result<(), SandboxError> {
        let parsed = WorkspacePath::parse_file(path)?;
        let limit = self.options.max_write_bytes;
        if content.len() as u64 > limit {
            return Err(SandboxError::TooLarge {
                path: path.to_owned(),
                size: content.len() as u64,
                limit,
            });
        }
        let (parents, name) = split(&parsed);
        let dir = self.walk(parents, path, true)?;
        // Policy check on the existing target. It is advisory only (the name could change right
        // after): safety comes from the rename, which replaces the directory entry and never
        // writes into whatever inode the old name pointed at.
        match dir.symlink_metadata(name) {
            Ok(meta) if meta.file_type().is_symlink() && !self.options.allow_symlinks => {
                return Err(SandboxError::SymlinkRefused {
                    path: path.to_owned(),
                });
            }
            Ok(meta) if meta.is_dir() => {
                return Err(SandboxError::NotAFile {
                    path: path.to_owned(),
                });
            }
            Ok(meta) if meta.is_file() && meta.nlink() > 1 => {
                return Err(SandboxError::HardLinkRefused {
                    path: path.to_owned(),
                    links: meta.nlink(),
                });
            }
            Ok(meta) if meta.is_file() || meta.file_type().is_symlink() => {}
            Ok(_) => {
                // A FIFO, socket or device: not something a file tool should replace.
                return Err(SandboxError::NotAFile {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_err(path, source)),
        }
        let tmp = format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>());
        let result = write_temp(&dir, &tmp, content)
            .and_then(|()| dir.rename(&tmp, &dir, name))
            .and_then(|()| sync_dir(&dir));
        if result.is_err() {
            // Best effort: the temp name is reserved, so a leftover is harmless but untidy.
            let _ = dir.remove_file(&tmp);
        }
        result.map_err(|source| io_err(path, source))
    }

    /// Deletes a regular file or an empty directory (never a FIFO, socket or device). Deleting a file with several hard links
    /// removes only the workspace's name; the other names and the content are untouched.
    ///
    /// # Errors
    /// The path errors of [`read`](Self::read);
    /// [`DirectoryNotEmpty`](SandboxError::DirectoryNotEmpty).
    pub fn delete(&self, path: &str) -> Result<(), SandboxError> {
        let parsed = WorkspacePath::parse_file(path)?;
        let (parents, name) = split(&parsed);
        let dir = self.walk(parents, path, false)?;
        let meta = dir
            .symlink_metadata(name)
            .map_err(|e| self.classify(&dir, name, path, e))?;
        // `unlinkat` acts on the name itself and never follows it, so even if the entry is
        // swapped after this check, only a name inside the workspace can be removed.
        let result = if meta.file_type().is_symlink() {
            if !self.options.allow_symlinks {
                return Err(SandboxError::SymlinkRefused {
                    path: path.to_owned(),
                });
            }
            dir.remove_file(name)
        } else if meta.is_dir() {
            dir.remove_dir(name)
        } else if meta.is_file() {
            dir.remove_file(name)
        } else {
            return Err(SandboxError::NotAFile {
                path: path.to_owned(),
            });
        };
        match result {
            Ok(()) => sync_dir(&dir).map_err(|source| io_err(path, source)),
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                Err(SandboxError::DirectoryNotEmpty {
                    path: path.to_owned(),
                })
            }
            Err(source) => Err(io_err(path, source)),
        }
    }

    /// Lists a directory (`""` or `"."` for the workspace root), sorted by name, without
    /// following any entry. Rampart's in-flight temporary files are hidden.
    ///
    /// # Errors
    /// The path errors of [`read`](Self::read); [`NotADirectory`](SandboxError::NotADirectory).
    pub fn list(&self, path: &str) -> Result<Listing, SandboxError> {
        let parsed = WorkspacePath::parse(path)?;
        let dir = self.walk(parsed.components(), path, false)?;
        let mut entries = Vec::new();
        let mut truncated = false;
        for entry in dir.entries().map_err(|source| io_err(path, source))? {
            let entry = entry.map_err(|source| io_err(path, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if entries.len() >= self.options.max_list_entries {
                truncated = true;
                break;
            }
            let meta = entry.metadata().map_err(|source| io_err(path, source))?;
            let ft = meta.file_type();
            let kind = if ft.is_symlink() {
                EntryKind::Symlink
            } else if ft.is_dir() {
                EntryKind::Directory
            } else if ft.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            entries.push(Entry {
                name,
                kind,
                size: meta.len(),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Listing { entries, truncated })
    }

    fn follow(&self) -> FollowSymlinks {
        if self.options.allow_symlinks {
            FollowSymlinks::Yes
        } else {
            FollowSymlinks::No
        }
    }

    /// Opens the directory named by `names`, one component at a time, never following a
    /// symlink unless allowed; creates missing ones when `create`.
    fn walk(&self, names: &[String], shown: &str, create: bool) -> Result<Dir, SandboxError> {
        let mut dir = self
            .root
            .try_clone()
            .map_err(|source| io_err(shown, source))?;
        for name in names {
            let next = match self.open_subdir(&dir, name) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    let mut builder = cap_std::fs::DirBuilder::new();
                    cap_std::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
                    match dir.create_dir_with(name, &builder) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(source) => return Err(io_err(shown, source)),
                    }
                    self.open_subdir(&dir, name)
                }
                other => other,
            };
            dir = next.map_err(|e| self.classify(&dir, name, shown, e))?;
        }
        Ok(dir)
    }

    fn open_subdir(&self, dir: &Dir, name: &str) -> io::Result<Dir> {
        if self.options.allow_symlinks {
            dir.open_dir(name)
        } else {
            dir.open_dir_nofollow(name)
        }
    }

    /// Turns a failed open of `name` into a precise error. The security decision was already
    /// made by the failed open; this `lstat` only chooses the message.
    fn classify(&self, dir: &Dir, name: &str, shown: &str, err: io::Error) -> SandboxError {
        let path = shown.to_owned();
        match dir.symlink_metadata(name) {
            Ok(m) if m.file_type().is_symlink() && !self.options.allow_symlinks => {
                SandboxError::SymlinkRefused { path }
            }
            Ok(m) if !m.is_dir() && err.kind() == io::ErrorKind::NotADirectory => {
                SandboxError::NotADirectory { path }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => SandboxError::NotFound { path },
            _ if err.kind() == io::ErrorKind::NotFound => SandboxError::NotFound { path },
            _ => io_err(shown, err),
        }
    }

    /// Checks, on the open handle, that it is a regular file with a single link.
    fn check_regular(
        &self,
        file: &File,
        path: &str,
    ) -> Result<cap_std::fs::Metadata, SandboxError> {
        let meta = file.metadata().map_err(|source| io_err(path, source))?;
        if !meta.is_file() {
            return Err(SandboxError::NotAFile {
                path: path.to_owned(),
            });
        }
        // A regular file with more than one link is also reachable under another name, possibly
        // outside the workspace (`ln ~/.ssh/id_ed25519 workspace/x` by anything with access to
        // both). The link count is the only trace the workspace can see of that, so such files
        // are refused rather than trusted.
        if meta.nlink() > 1 {
            return Err(SandboxError::HardLinkRefused {
                path: path.to_owned(),
                links: meta.nlink(),
            });
        }
        Ok(meta)
    }
}

fn split(path: &WorkspacePath) -> (&[String], &str) {
    // `parse_file` guarantees at least one name.
    path.split_last().unwrap_or((&[], ""))
}

fn write_temp(dir: &Dir, tmp: &str, content: &[u8]) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .follow(FollowSymlinks::No);
    let mut file = dir.open_with(tmp, &opts)?;
    file.write_all(content)?;
    file.sync_all()
}

fn sync_dir(dir: &Dir) -> io::Result<()> {
    // Directories opened by `open_dir_nofollow` are `O_PATH` handles, which can't be fsynced;
    // open the directory itself for reading to get one that can.
    let mut opts = OpenOptions::new();
    opts.read(true).follow(FollowSymlinks::No);
    dir.open_with(".", &opts)?.sync_all()
}

fn io_err(path: &str, source: io::Error) -> SandboxError {
    SandboxError::Io {
        path: crate::error::shown(path),
        source,
    }
}
