//! Crash-safe file replacement: temp file, fsync, rename, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom as _, SystemRandom};

use crate::VaultError;

/// Creates `dir` (and parents) if missing, owner-only (0700) where it is created.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), VaultError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| VaultError::Io {
        context: "cannot create directory",
        path: dir.to_owned(),
        source,
    })
}

/// Replaces `path` with `bytes` so that, whatever happens (error, crash, kill), `path` holds
/// either its old content or the new one, never a mix. The new file has mode 0600.
///
/// The temp file is created next to `path` with `O_EXCL` and a random name, so a planted file or
/// symlink there is never followed; `rename` replaces a symlink at `path` instead of writing through it.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    rng: &SystemRandom,
) -> Result<(), VaultError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tag = [0u8; 8];
    rng.fill(&mut tag).map_err(|_| VaultError::Rng)?;
    let file_name = path
        .file_name()
        .map_or_else(|| "vault".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", hex_lower(&tag)));

    let io = |context: &'static str, p: &Path| {
        let p = p.to_owned();
        move |source| VaultError::Io {
            context,
            path: p,
            source,
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&tmp)
        .map_err(io("cannot create temporary file", &tmp))?;

    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io("cannot write temporary file", &tmp))
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path).map_err(io("cannot replace", path))
        });
    if let Err(e) = result {
        // Best effort: the old file is intact either way; a leftover temp holds only ciphertext.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| VaultError::Io {
            context: "cannot sync directory",
            path: dir.to_owned(),
            source,
        })
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), VaultError> {
    Ok(())
}

fn hex_lower(bytes: &[u8]) -> String {
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
    fn replaces_content_with_mode_0600_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        let rng = SystemRandom::new();
        write_atomic(&path, b"one", &rng).unwrap();
        write_atomic(&path, b"two", &rng).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        let rng = SystemRandom::new();
        write_atomic(&path, b"old", &rng).unwrap();
        // Renaming a file over a non-empty directory fails: the write must fail and keep the old
        // content of a sibling untouched; here the target itself is a directory.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new", &rng).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(blocked.join("x").exists());
        // No temp file was left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
