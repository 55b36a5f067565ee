//! Crash-safe file replacement for the vault, through `rampart-durable`: temp file created with
//! `O_EXCL` beside the target (mode 0600), fsync, rename, fsync the directory. Whatever happens,
//! the vault file holds either its old content or the new one, never a mix.

use std::path::Path;

use crate::VaultError;

/// Creates `dir` (and parents) if missing, owner-only (0700) where it is created.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), VaultError> {
    rampart_durable::ensure_private_dir(dir).map_err(|source| VaultError::Io {
        context: "cannot create directory",
        path: dir.to_owned(),
        source,
    })
}

/// Replaces `path` with `bytes`, atomically and durably, with mode 0600.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    rampart_durable::write_atomic(path, bytes, 0o600).map_err(|source| VaultError::Io {
        context: "cannot save",
        path: path.to_owned(),
        source,
    })
}
