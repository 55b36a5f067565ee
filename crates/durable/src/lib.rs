//! # rampart-durable
//!
//! One concept: replacing a file so that, whatever happens — an error, a crash, `kill -9`, power
//! loss after the call returns — the path holds either the old content or the new, never a mix,
//! and never a file readable by other users. Every crate that persists state (the vault, agent
//! manifests, the configuration, audit checkpoints) writes through [`write_atomic`].
//!
//! The recipe: create a temp file beside the target with `O_CREAT|O_EXCL` and a random name (a
//! planted file or symlink is never followed), write, `fsync`, `rename` over the target (which
//! replaces a symlink rather than writing through it), then `fsync` the directory so the rename
//! itself is durable.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("config.toml");
//! rampart_durable::write_atomic(&path, b"api_listen = \"127.0.0.1:4200\"\n", 0o600)?;
//! assert_eq!(std::fs::read(&path)?, b"api_listen = \"127.0.0.1:4200\"\n");
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom as _, SystemRandom};

/// Creates `dir` (and missing parents) with mode 0700 where it creates them.
///
/// # Errors
/// The I/O error from creating the directory.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Replaces `path` with `bytes`, atomically and durably, the new file having `mode` (Unix).
///
/// # Errors
/// The I/O error of the step that failed; the previous file at `path`, if any, is untouched and
/// the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tag = [0u8; 8];
    SystemRandom::new()
        .fill(&mut tag)
        .map_err(|_| io::Error::other("the system random generator failed"))?;
    let file_name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", hex(&tag)));

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp)?;
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path)
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

/// `fsync`s a directory so that entries created or renamed in it survive a crash.
///
/// # Errors
/// The I/O error from opening or syncing it.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"canary").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        write_atomic(&link, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"canary");
        assert_eq!(fs::read(&link).unwrap(), b"new");
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"old", 0o600).unwrap();
        // Renaming over a directory fails: the old content must survive, no temp left.
        let target_dir = dir.path().join("d");
        fs::create_dir(&target_dir).unwrap();
        fs::write(target_dir.join("x"), b"").unwrap();
        assert!(write_atomic(&target_dir, b"new", 0o600).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
