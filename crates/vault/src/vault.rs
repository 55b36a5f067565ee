//! The unlocked vault: one owner of the decrypted entries.

use std::fmt;
use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::entries::{self, Entries, MAX_ENTRIES, MAX_VALUE_LEN, validate_name};
use crate::format::{MAX_FILE_LEN, NONCE_LEN, SALT_LEN, TAG_LEN, VaultFile, header_aad};
use crate::kdf::{KEY_LEN, KdfParams, check_iterations, derive_key};
use crate::{VaultError, atomic, constant_time_eq};

/// Where the vault lives, relative to `$RAMPART_HOME`.
pub const VAULT_FILE: &str = "credentials/vault.json";

/// The shortest passphrase [`Vault::create`] and [`Vault::change_passphrase`] accept.
///
/// # Security
/// PBKDF2 multiplies the cost of each guess; it cannot save a passphrase that is among the first
/// few million guesses. Eight bytes is a floor, not a recommendation: use a long random phrase.
pub const MIN_PASSPHRASE_LEN: usize = 8;

/// The longest passphrase accepted anywhere.
///
/// # Security
/// Bounds what is read from stdin or the environment and fed to the KDF.
pub const MAX_PASSPHRASE_LEN: usize = 1024;

/// `$RAMPART_HOME/credentials/vault.json` for a given home.
#[must_use]
pub fn vault_path(home: &Path) -> PathBuf {
    home.join(VAULT_FILE)
}

/// An unlocked vault: the decrypted entries, the key that encrypts them, and the file they live in.
///
/// There is one owner of the secrets, this value (share it as `Arc<Vault>`); dropping it zeroizes
/// the key and every value. Changes ([`set`](Self::set), [`remove`](Self::remove)) stay in memory
/// until [`save`](Self::save). `Debug` shows the path, the work factor and the number of entries,
/// never a name's value or the key.
pub struct Vault {
    path: PathBuf,
    iterations: u32,
    salt: [u8; SALT_LEN],
    key: Zeroizing<[u8; KEY_LEN]>,
    entries: Entries,
    rng: SystemRandom,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("iterations", &self.iterations)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Creates a new, empty vault at `path` with 600,000 PBKDF2 iterations and a fresh salt, and
    /// saves it. The parent directory is created (mode 0700) if missing.
    ///
    /// # Errors
    /// [`VaultError::AlreadyExists`] if a file is there (it is never overwritten),
    /// [`VaultError::PassphraseTooShort`], [`VaultError::PassphraseTooLong`], I/O errors.
    pub fn create(path: impl AsRef<Path>, passphrase: &SecretString) -> Result<Self, VaultError> {
        Self::create_with(path, passphrase, KdfParams::recommended())
    }

    /// [`create`](Self::create) with an explicit work factor (see [`KdfParams::insecure_for_tests`]).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_with(
        path: impl AsRef<Path>,
        passphrase: &SecretString,
        kdf: KdfParams,
    ) -> Result<Self, VaultError> {
        let path = path.as_ref().to_owned();
        check_new_passphrase(passphrase)?;
        if path.symlink_metadata().is_ok() {
            return Err(VaultError::AlreadyExists { path });
        }
        if let Some(dir) = path.parent() {
            atomic::ensure_private_dir(dir)?;
        }
        let rng = SystemRandom::new();
        let salt = random::<SALT_LEN>(&rng)?;
        let key = derive_key(
            passphrase.expose_secret().as_bytes(),
            &salt,
            kdf.iterations(),
        )?;
        let vault = Self {
            path,
            iterations: kdf.iterations(),
            salt,
            key,
            entries: Entries::new(),
            rng,
        };
        vault.save()?;
        Ok(vault)
    }

    /// Opens and decrypts the vault at `path`, requiring at least 600,000 PBKDF2 iterations.
    ///
    /// This costs one key derivation (about half a second): do it once, at start-up.
    ///
    /// # Errors
    /// [`VaultError::NotFound`]; [`VaultError::WrongPassphraseOrDamaged`] for a wrong passphrase
    /// or any change to the file; [`VaultError::WeakKdf`] for a header below the floor; format and
    /// I/O errors. The file is never modified.
    pub fn open(path: impl AsRef<Path>, passphrase: &SecretString) -> Result<Self, VaultError> {
        Self::open_with(path, passphrase, KdfParams::recommended())
    }

    /// [`open`](Self::open) with `floor` as the fewest iterations accepted. Only tests lower it,
    /// with [`KdfParams::insecure_for_tests`].
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(
        path: impl AsRef<Path>,
        passphrase: &SecretString,
        floor: KdfParams,
    ) -> Result<Self, VaultError> {
        let path = path.as_ref().to_owned();
        let bytes = read_bounded(&path)?;
        Self::from_bytes(path, &bytes, passphrase, floor)
    }

    /// Decrypts vault file bytes that were read from `path` (where [`save`](Self::save) writes).
    ///
    /// # Errors
    /// As [`open`](Self::open), without the I/O.
    pub fn from_bytes(
        path: PathBuf,
        bytes: &[u8],
        passphrase: &SecretString,
        floor: KdfParams,
    ) -> Result<Self, VaultError> {
        let file = VaultFile::parse(bytes)?;
        check_iterations(file.iterations(), floor)?;
        let pass = passphrase.expose_secret().as_bytes();
        if pass.len() > MAX_PASSPHRASE_LEN {
            return Err(VaultError::PassphraseTooLong {
                max: MAX_PASSPHRASE_LEN,
            });
        }
        let key = derive_key(pass, file.salt(), file.iterations())?;
        let mut buf = Zeroizing::new(file.ciphertext().to_vec());
        let plain = aead_key(&key)
            .open_in_place(
                Nonce::assume_unique_for_key(*file.nonce()),
                Aad::from(file.associated_data()),
                buf.as_mut_slice(),
            )
            .map_err(|_| VaultError::WrongPassphraseOrDamaged)?;
        let entries = entries::decode(plain)?;
        Ok(Self {
            path,
            iterations: file.iterations(),
            salt: *file.salt(),
            key,
            entries,
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts the entries under a fresh random nonce and atomically replaces the file
    /// (temp file, fsync, rename, fsync the directory; mode 0600). If anything fails, the
    /// previous file is left as it was.
    ///
    /// # Errors
    /// I/O errors, [`VaultError::Rng`].
    pub fn save(&self) -> Result<(), VaultError> {
        let file = self.seal(&self.key, self.iterations, self.salt)?;
        atomic::write_atomic(&self.path, &file.to_bytes())
    }

    /// Changes the passphrase (SPEC V6): a new salt, a new key, the entries re-encrypted and saved
    /// atomically. Afterwards the old passphrase no longer opens the file. The work factor is kept.
    /// If saving fails, nothing changes, on disk or in memory.
    ///
    /// # Errors
    /// [`VaultError::PassphraseTooShort`], [`VaultError::PassphraseTooLong`], I/O errors.
    pub fn change_passphrase(&mut self, new_passphrase: &SecretString) -> Result<(), VaultError> {
        check_new_passphrase(new_passphrase)?;
        let salt = random::<SALT_LEN>(&self.rng)?;
        let key = derive_key(
            new_passphrase.expose_secret().as_bytes(),
            &salt,
            self.iterations,
        )?;
        let file = self.seal(&key, self.iterations, salt)?;
        atomic::write_atomic(&self.path, &file.to_bytes())?;
        self.salt = salt;
        self.key = key;
        Ok(())
    }

    fn seal(
        &self,
        key: &[u8; KEY_LEN],
        iterations: u32,
        salt: [u8; SALT_LEN],
    ) -> Result<VaultFile, VaultError> {
        let nonce = random::<NONCE_LEN>(&self.rng)?;
        let mut buf = entries::encode(&self.entries, TAG_LEN)?;
        aead_key(key)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header_aad(iterations, &salt)),
                &mut *buf,
            )
            .map_err(|_| VaultError::Malformed("the vault's contents exceed the size limit"))?;
        Ok(VaultFile::new(iterations, salt, nonce, buf.to_vec()))
    }

    /// The entry names, sorted.
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// The secret named `name`, if the vault holds it.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.entries.get(name)
    }

    /// Whether the vault holds `name`.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Whether `candidate` equals the secret `name`, compared in constant time
    /// (see [`constant_time_eq`]). False when there is no such entry.
    #[must_use]
    pub fn matches(&self, name: &str, candidate: &[u8]) -> bool {
        self.entries
            .get(name)
            .is_some_and(|v| constant_time_eq(v.expose_secret().as_bytes(), candidate))
    }

    /// Every entry, sorted by name: for the leak guard (SPEC L2), which must know each value to
    /// redact it.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the vault holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds or replaces the secret `name` in memory (call [`save`](Self::save) to persist).
    ///
    /// # Errors
    /// [`VaultError::InvalidName`], [`VaultError::ValueTooLarge`], [`VaultError::TooManyEntries`].
    pub fn set(&mut self, name: &str, value: SecretString) -> Result<(), VaultError> {
        validate_name(name)?;
        let len = value.expose_secret().len();
        if len > MAX_VALUE_LEN {
            return Err(VaultError::ValueTooLarge {
                name: name.to_owned(),
                len,
                max: MAX_VALUE_LEN,
            });
        }
        if !self.entries.contains_key(name) && self.entries.len() >= MAX_ENTRIES {
            return Err(VaultError::TooManyEntries { max: MAX_ENTRIES });
        }
        self.entries.insert(name.to_owned(), value);
        Ok(())
    }

    /// Removes the secret `name` in memory (call [`save`](Self::save) to persist). Returns whether
    /// it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// The vault file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PBKDF2 iteration count of this vault.
    #[must_use]
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // AES_256_GCM takes exactly KEY_LEN = 32 bytes, so this cannot fail.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!()))
}

fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], VaultError> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(|_| VaultError::Rng)?;
    Ok(out)
}

fn check_new_passphrase(passphrase: &SecretString) -> Result<(), VaultError> {
    let len = passphrase.expose_secret().len();
    if len < MIN_PASSPHRASE_LEN {
        return Err(VaultError::PassphraseTooShort {
            min: MIN_PASSPHRASE_LEN,
        });
    }
    if len > MAX_PASSPHRASE_LEN {
        return Err(VaultError::PassphraseTooLong {
            max: MAX_PASSPHRASE_LEN,
        });
    }
    Ok(())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, VaultError> {
    let io_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            VaultError::NotFound {
                path: path.to_owned(),
            }
        } else {
            VaultError::Io {
                context: "cannot read vault",
                path: path.to_owned(),
                source,
            }
        }
    };
    let file = File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_FILE_LEN).unwrap_or(u64::MAX) + 1;
    file.take(limit).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() > MAX_FILE_LEN {
        return Err(VaultError::FileTooLarge {
            len: bytes.len() as u64,
            max: MAX_FILE_LEN,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_bound_even_for_a_holder_of_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.json");
        let pass = SecretString::from("passphrase-1".to_owned());
        let mut vault = Vault::create_with(&path, &pass, KdfParams::insecure_for_tests(8)).unwrap();
        vault.set("k", SecretString::from("v".to_owned())).unwrap();
        vault.save().unwrap();
        let file = VaultFile::parse(&std::fs::read(&path).unwrap()).unwrap();
        let key = derive_key(b"passphrase-1", file.salt(), file.iterations()).unwrap();
        let open = |aad: Vec<u8>| {
            let mut buf = file.ciphertext().to_vec();
            aead_key(&key)
                .open_in_place(
                    Nonce::assume_unique_for_key(*file.nonce()),
                    Aad::from(aad),
                    &mut buf,
                )
                .is_ok()
        };
        assert!(open(file.associated_data()));
        // Same key, same nonce, same ciphertext: only the header claims another work factor or salt.
        assert!(!open(header_aad(file.iterations() + 1, file.salt())));
        assert!(!open(header_aad(file.iterations(), &[0; SALT_LEN])));
    }

    #[test]
    fn vault_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Vault>();
    }
}
