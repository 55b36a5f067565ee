//! The credential directory behind [`crate::Authenticator`]: the gateway's `api_key` (the
//! owner's key) and the `[[users]]` key hashes, a keyed cache of verified keys, and the registry
//! of open WebSockets that a reload must reach (SPEC A1, A5, M2).
//!
//! # How a presented key is checked
//! 1. Against `api_key`: SHA-256 digests compared in constant time (no hashing cost).
//! 2. Against the cache: `HMAC-SHA256(process key, presented)` → the user it was verified for.
//!    The HMAC key is random per process and never leaves it, so the cache holds no value that
//!    could be tested against guesses elsewhere, and no key itself.
//! 3. On a miss: the key is verified against **every** enabled user's hash, with no early exit,
//!    on the blocking pool, at most [`MAX_CONCURRENT_KEY_CHECKS`] at a time. The time taken is
//!    the sum over all enabled users whatever the key is, so it says nothing about which user (if
//!    any) matched. A match is cached; a refusal is not (so the cache cannot be filled by
//!    guessing).
//!
//! A reload replaces the whole directory, cache included: a disabled user, a changed hash or a
//! lower role is refused from the next request on, and the open WebSockets of any principal the
//! new directory no longer vouches for are told to close.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use argon2::{Argon2, PasswordHash, PasswordVerifier as _};
use rampart_audit::{Actor, KeyId};
use rampart_config::{KeyHash, UserConfig};
use rampart_core::Role;
use ring::{digest, hmac, rand::SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::{Semaphore, watch};

/// Verified keys remembered per directory; when full, the cache starts over.
///
/// # Security
/// Bounds memory. Only keys that verified are cached, so an attacker cannot fill it; a full cache
/// costs the next requests one argon2 round each, nothing more.
pub const MAX_CACHED_KEYS: usize = 1024;
/// argon2/bcrypt verifications run at once (each uses a blocking-pool thread and, for argon2id at
/// the default cost, 19 MiB).
///
/// # Security
/// A flood of unknown keys could otherwise take every core and a lot of memory; with this cap it
/// takes at most this many threads, and the per-IP rate limit bounds how fast it arrives.
pub const MAX_CONCURRENT_KEY_CHECKS: usize = 2;
/// The longest presented key that is hashed.
///
/// # Security
/// Keys from `rampart keygen` are 44 bytes; a longer input is refused before any hashing so a
/// client cannot make the gateway hash megabytes.
pub const MAX_PRESENTED_KEY_BYTES: usize = 512;

/// Which credential a principal authenticated with: compared on reload to tell whether the key a
/// WebSocket was opened with is still the user's key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredentialId(Option<[u8; 32]>);

/// The caller of a request, once authenticated.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// Who it is: a `[[users]]` name, `"api_key"` for the gateway key, `"local"` for the
    /// loopback bypass.
    pub name: Cow<'static, str>,
    /// What it may do.
    pub role: Role,
    /// How the audit trail names it: `user:NAME`, the key's fingerprint (never the key) or the
    /// peer address.
    pub actor: Actor,
    /// The credential it presented (opaque; [`CredentialId::default`] for none).
    pub credential: CredentialId,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// The gateway's own key, kept as its digest. Resolved once at start; a reload keeps it.
#[derive(Clone, Copy)]
pub(crate) struct OwnerKey {
    digest: [u8; 32],
    id: KeyId,
}

impl OwnerKey {
    pub(crate) fn new(key: &SecretString) -> Self {
        let bytes = key.expose_secret().as_bytes();
        Self {
            digest: sha256(bytes),
            id: KeyId::of(bytes),
        }
    }
}

struct UserEntry {
    name: String,
    role: Role,
    enabled: bool,
    hash: Option<KeyHash>,
    /// The credential id of `hash`, computed once rather than per request.
    credential: CredentialId,
}

/// A presented key that only the password hashes can decide on (see
/// [`Authenticator::verify_now`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NeedsCheck;

/// One generation of the credential directory.
pub(crate) struct Directory {
    users: Vec<UserEntry>,
    require_auth_local: bool,
    cache: Mutex<HashMap<[u8; 32], usize>>,
}

impl Directory {
    pub(crate) fn new(users: &[UserConfig], require_auth_local: bool) -> Self {
        Self {
            users: users
                .iter()
                .map(|u| UserEntry {
                    name: u.name.clone(),
                    role: u.role,
                    enabled: u.enabled,
                    hash: u.api_key_hash.clone(),
                    credential: CredentialId(
                        u.api_key_hash
                            .as_ref()
                            .map(|h| sha256(h.as_str().as_bytes())),
                    ),
                })
                .collect(),
            require_auth_local,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any enabled user has a key.
    pub(crate) fn has_user_keys(&self) -> bool {
        self.users.iter().any(|u| u.enabled && u.hash.is_some())
    }

    fn principal(&self, i: usize) -> Option<Principal> {
        let u = self.users.get(i)?;
        Some(Principal {
            name: Cow::Owned(u.name.clone()),
            role: u.role,
            actor: Actor::User(u.name.clone()),
            credential: u.credential,
        })
    }

    fn cached(&self, tag: &[u8; 32]) -> Option<usize> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tag)
            .copied()
    }

    fn remember(&self, tag: [u8; 32], i: usize) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(tag, i);
    }

    /// Verifies `presented` against every enabled user's hash, without stopping at a match.
    fn verify_all(&self, presented: &[u8]) -> Option<usize> {
        let mut found = None;
        for (i, u) in self.users.iter().enumerate() {
            let Some(hash) = u.hash.as_ref().filter(|_| u.enabled) else {
                continue;
            };
            let ok = match hash {
                KeyHash::Argon2id(s) => PasswordHash::new(s)
                    .is_ok_and(|h| Argon2::default().verify_password(presented, &h).is_ok()),
                // The non-truncating variant: plain bcrypt ignores bytes past the 72nd, which
                // would make every extension of a key a valid key.
                KeyHash::Bcrypt(s) => bcrypt::non_truncating_verify(presented, s).unwrap_or(false),
                _ => false,
            };
            if ok && found.is_none() {
                found = Some(i);
            }
        }
        found
    }

    /// Whether this directory still vouches for `p` (authenticated under an earlier one): same
    /// user, still enabled, same key, no lower role. The owner key survives reloads.
    fn vouches_for(&self, p: &Principal) -> bool {
        match &*p.name {
            "api_key" => true,
            "local" => !self.require_auth_local,
            name => self.users.iter().any(|u| {
                u.name == name
                    && u.enabled
                    && u.role >= p.role
                    && CredentialId(u.hash.as_ref().map(|h| sha256(h.as_str().as_bytes())))
                        == p.credential
            }),
        }
    }

    /// `(name, role, enabled, has_key)` of every user, for `GET /api/users`.
    pub(crate) fn summary(&self) -> Vec<(String, Role, bool, bool)> {
        self.users
            .iter()
            .map(|u| (u.name.clone(), u.role, u.enabled, u.hash.is_some()))
            .collect()
    }

    /// What changed from `old` to `self`, in words (names and roles, never a hash).
    pub(crate) fn diff(&self, old: &Self) -> String {
        let mut parts = Vec::new();
        for u in &self.users {
            match old.users.iter().find(|o| o.name == u.name) {
                None => parts.push(format!("added {} ({})", u.name, u.role)),
                Some(o) => {
                    if o.role != u.role {
                        parts.push(format!("{}: role {} -> {}", u.name, o.role, u.role));
                    }
                    if o.enabled != u.enabled {
                        let what = if u.enabled { "enabled" } else { "disabled" };
                        parts.push(format!("{}: {what}", u.name));
                    }
                    if o.hash.as_ref().map(KeyHash::as_str) != u.hash.as_ref().map(KeyHash::as_str)
                    {
                        parts.push(format!("{}: key changed", u.name));
                    }
                }
            }
        }
        for o in &old.users {
            if !self.users.iter().any(|u| u.name == o.name) {
                parts.push(format!("removed {}", o.name));
            }
        }
        if old.require_auth_local != self.require_auth_local {
            parts.push(format!(
                "api_require_auth_local = {}",
                self.require_auth_local
            ));
        }
        if parts.is_empty() {
            "users unchanged".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// One open WebSocket, as the registry knows it.
struct OpenSocket {
    principal: Principal,
    revoke: watch::Sender<bool>,
}

/// The open WebSockets per principal, so a reload can close those it no longer vouches for.
#[derive(Default)]
struct SocketRegistry {
    open: Mutex<HashMap<u64, OpenSocket>>,
    next: AtomicU64,
}

/// Held by an open WebSocket; deregisters it when dropped.
pub(crate) struct SocketGuard {
    id: u64,
    registry: Arc<SocketRegistry>,
    revoked: watch::Receiver<bool>,
}

impl std::fmt::Debug for SocketGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketGuard").field("id", &self.id).finish()
    }
}

impl SocketGuard {
    /// Resolves once the principal's credential is revoked (disabled, key changed, role lowered).
    pub(crate) async fn revoked(&mut self) {
        if self.revoked.wait_for(|r| *r).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.registry
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Checks presented keys against the gateway key and the `[[users]]` hashes.
pub struct Authenticator {
    owner: Option<OwnerKey>,
    current: RwLock<Arc<Directory>>,
    mac: hmac::Key,
    checks: Arc<Semaphore>,
    sockets: Arc<SocketRegistry>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.directory();
        f.debug_struct("Authenticator")
            .field("key_configured", &self.owner.is_some())
            .field("users", &dir.users.len())
            .field("require_auth_local", &dir.require_auth_local)
            .finish_non_exhaustive()
    }
}

/// What a directory swap did.
#[derive(Debug)]
pub(crate) struct Swap {
    /// The change, in words.
    pub(crate) summary: String,
    /// Names of principals whose WebSockets were told to close (one entry per socket).
    pub(crate) closed: Vec<String>,
}

impl Authenticator {
    /// An authenticator for `api_key` (none and no users: every protected route answers 401) and
    /// the `api_require_auth_local` setting.
    #[must_use]
    pub fn new(api_key: Option<&SecretString>, require_auth_local: bool) -> Self {
        Self::with_users(api_key, require_auth_local, &[])
    }

    /// [`Authenticator::new`] with `[[users]]`.
    #[must_use]
    pub fn with_users(
        api_key: Option<&SecretString>,
        require_auth_local: bool,
        users: &[UserConfig],
    ) -> Self {
        let rng = SystemRandom::new();
        // A fresh random HMAC key per process; ring only fails here if the OS RNG does, and then
        // a constant key still keeps the cache correct (only the keyed-ness is lost).
        let mac = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, b"rampart-key-cache"));
        Self {
            owner: api_key.map(OwnerKey::new),
            current: RwLock::new(Arc::new(Directory::new(users, require_auth_local))),
            mac,
            checks: Arc::new(Semaphore::new(MAX_CONCURRENT_KEY_CHECKS)),
            sockets: Arc::default(),
        }
    }

    pub(crate) fn directory(&self) -> Arc<Directory> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether any key is configured at all (the gateway key, or an enabled user's).
    #[must_use]
    pub fn has_key(&self) -> bool {
        self.owner.is_some() || self.directory().has_user_keys()
    }

    /// The principal for a presented key, if it is a valid one.
    pub async fn verify(&self, presented: &str) -> Option<Principal> {
        match self.verify_now(presented) {
            Ok(found) => found,
            Err(NeedsCheck) => Box::pin(self.verify_against_hashes(presented)).await,
        }
    }

    /// What can be decided without running a password hash: the gateway key (a digest compared
    /// in constant time), a key verified before (the keyed cache), or a refusal when no user has
    /// a key or the key is too long. `Err(NeedsCheck)` when only the hashes can tell.
    pub(crate) fn verify_now(&self, presented: &str) -> Result<Option<Principal>, NeedsCheck> {
        let bytes = presented.as_bytes();
        if let Some(owner) = &self.owner {
            let ok: bool = sha256(bytes).ct_eq(&owner.digest).into();
            if ok {
                return Ok(Some(Principal {
                    name: Cow::Borrowed("api_key"),
                    role: Role::Owner,
                    actor: Actor::Key(owner.id),
                    credential: CredentialId(Some(owner.digest)),
                }));
            }
        }
        let dir = self.directory();
        if !dir.has_user_keys() || bytes.len() > MAX_PRESENTED_KEY_BYTES {
            return Ok(None);
        }
        match dir.cached(&self.tag(bytes)) {
            Some(i) => Ok(dir.principal(i)),
            None => Err(NeedsCheck),
        }
    }

    /// The cache's key for `presented`: an HMAC under this process's random key, so the cache
    /// holds no key and no unkeyed digest of one.
    fn tag(&self, presented: &[u8]) -> [u8; 32] {
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac::sign(&self.mac, presented).as_ref());
        tag
    }

    /// The slow path of [`Authenticator::verify`]: every enabled user's hash, on the blocking
    /// pool, at most [`MAX_CONCURRENT_KEY_CHECKS`] at a time; a match is remembered.
    async fn verify_against_hashes(&self, presented: &str) -> Option<Principal> {
        let bytes = presented.as_bytes();
        let dir = self.directory();
        let tag = self.tag(bytes);
        let _permit = self.checks.acquire().await.ok()?;
        let key = zeroize::Zeroizing::new(bytes.to_vec());
        let d = dir.clone();
        let found = tokio::task::spawn_blocking(move || d.verify_all(&key))
            .await
            .ok()
            .flatten()?;
        dir.remember(tag, found);
        dir.principal(found)
    }

    /// The principal for an unauthenticated loopback peer when `api_require_auth_local = false`.
    pub(crate) fn local_bypass(&self, peer: Option<SocketAddr>) -> Option<Principal> {
        let peer = peer.filter(|p| p.ip().is_loopback())?;
        (!self.directory().require_auth_local).then(|| Principal {
            name: Cow::Borrowed("local"),
            role: Role::Owner,
            actor: Actor::Ip(peer.ip()),
            credential: CredentialId::default(),
        })
    }

    /// Replaces the users and `api_require_auth_local` (the gateway key stays), then tells every
    /// open WebSocket whose principal the new directory does not vouch for to close.
    pub(crate) fn swap(&self, users: &[UserConfig], require_auth_local: bool) -> Swap {
        let fresh = Arc::new(Directory::new(users, require_auth_local));
        // The registry's lock is held across the swap, and `register_socket` checks under the
        // same lock, so a socket opened during a reload is either seen here or checked against
        // the new directory.
        let open = self
            .sockets
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            fresh.clone(),
        );
        let mut closed = Vec::new();
        for s in open.values() {
            if !fresh.vouches_for(&s.principal) {
                let _ = s.revoke.send(true);
                closed.push(s.principal.name.to_string());
            }
        }
        Swap {
            summary: fresh.diff(&old),
            closed,
        }
    }

    /// Registers an open WebSocket of `principal`.
    pub(crate) fn register_socket(&self, principal: &Principal) -> SocketGuard {
        let mut open = self
            .sockets
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = self.sockets.next.fetch_add(1, Ordering::Relaxed);
        let still = self.directory().vouches_for(principal);
        let (tx, rx) = watch::channel(!still);
        open.insert(
            id,
            OpenSocket {
                principal: principal.clone(),
                revoke: tx,
            },
        );
        SocketGuard {
            id,
            registry: self.sockets.clone(),
            revoked: rx,
        }
    }

    /// How many WebSockets are open (for tests).
    #[must_use]
    pub fn open_sockets(&self) -> usize {
        self.sockets
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher as _;
    use argon2::password_hash::SaltString;

    fn cheap_hash(key: &str) -> String {
        let params = argon2::Params::new(8, 1, 1, None).unwrap();
        let a = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"saltsaltsalt").unwrap();
        a.hash_password(key.as_bytes(), &salt).unwrap().to_string()
    }

    fn users(spec: &[(&str, Role, bool, &str)]) -> Vec<UserConfig> {
        let toml: String = spec
            .iter()
            .map(|(n, r, e, k)| {
                format!(
                    "[[users]]\nname = \"{n}\"\nrole = \"{r}\"\nenabled = {e}\napi_key_hash = \"{}\"\n",
                    cheap_hash(k)
                )
            })
            .collect();
        rampart_config::Config::from_toml_str(&toml, "config.toml")
            .unwrap()
            .users
    }

    #[tokio::test]
    async fn owner_key_and_user_keys_verify_and_nothing_else() {
        let a = Authenticator::with_users(
            Some(&SecretString::from("k3y".to_owned())),
            true,
            &users(&[
                ("alice", Role::Admin, true, "alice-key"),
                ("bob", Role::Viewer, false, "bob-key"),
            ]),
        );
        assert_eq!(a.verify("k3y").await.unwrap().role, Role::Owner);
        let alice = a.verify("alice-key").await.unwrap();
        assert_eq!((&*alice.name, alice.role), ("alice", Role::Admin));
        assert_eq!(alice.actor, Actor::User("alice".to_owned()));
        // Cached now: the same answer again.
        assert_eq!(a.verify("alice-key").await.unwrap(), alice);
        for wrong in ["", "k3", "k3y ", "K3Y", "alice-key ", "bob-key", "alice"] {
            assert!(a.verify(wrong).await.is_none(), "{wrong:?}");
        }
        assert!(
            a.verify(&"x".repeat(MAX_PRESENTED_KEY_BYTES + 1))
                .await
                .is_none()
        );
        assert!(Authenticator::new(None, true).verify("").await.is_none());
    }

    #[tokio::test]
    async fn a_swap_revokes_at_once_and_closes_sockets() {
        let a = Authenticator::with_users(
            None,
            true,
            &users(&[
                ("alice", Role::User, true, "alice-key"),
                ("carol", Role::Admin, true, "carol-key"),
            ]),
        );
        let alice = a.verify("alice-key").await.unwrap();
        let carol = a.verify("carol-key").await.unwrap();
        let mut alice_ws = a.register_socket(&alice);
        let mut carol_ws = a.register_socket(&carol);
        assert_eq!(a.open_sockets(), 2);
        let swap = a.swap(
            &users(&[
                ("alice", Role::User, false, "alice-key"),
                ("carol", Role::User, true, "carol-key"),
            ]),
            true,
        );
        assert!(swap.summary.contains("alice: disabled"), "{}", swap.summary);
        assert!(
            swap.summary.contains("carol: role admin -> user"),
            "{}",
            swap.summary
        );
        assert_eq!(swap.closed.len(), 2);
        // The cached key is gone with the old directory.
        assert!(a.verify("alice-key").await.is_none());
        assert_eq!(a.verify("carol-key").await.unwrap().role, Role::User);
        tokio::time::timeout(std::time::Duration::from_secs(5), alice_ws.revoked())
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), carol_ws.revoked())
            .await
            .unwrap();
        drop(alice_ws);
        drop(carol_ws);
        assert_eq!(a.open_sockets(), 0);
    }

    #[tokio::test]
    async fn a_changed_key_revokes_and_an_unchanged_user_stays() {
        let a = Authenticator::with_users(
            None,
            true,
            &users(&[
                ("alice", Role::User, true, "old"),
                ("dave", Role::User, true, "dave-key"),
            ]),
        );
        let alice = a.verify("old").await.unwrap();
        let dave = a.verify("dave-key").await.unwrap();
        let alice_ws = a.register_socket(&alice);
        let dave_ws = a.register_socket(&dave);
        let swap = a.swap(
            &users(&[
                ("alice", Role::User, true, "new"),
                ("dave", Role::User, true, "dave-key"),
            ]),
            true,
        );
        assert_eq!(swap.closed, vec!["alice".to_owned()]);
        assert!(*alice_ws.revoked.borrow());
        assert!(!*dave_ws.revoked.borrow());
        assert!(a.verify("old").await.is_none());
        assert!(a.verify("new").await.is_some());
        // A socket registered with a principal the directory no longer vouches for is born revoked.
        assert!(*a.register_socket(&alice).revoked.borrow());
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_without_truncation() {
        let at_limit = "b".repeat(72);
        let toml = format!(
            "[[users]]\nname = \"bob\"\nrole = \"user\"\napi_key_hash = \"{}\"\n\
             [[users]]\nname = \"long\"\nrole = \"user\"\napi_key_hash = \"{}\"\n",
            bcrypt::hash("bob-key", 10).unwrap(),
            bcrypt::hash(&at_limit, 10).unwrap()
        );
        let users = rampart_config::Config::from_toml_str(&toml, "config.toml")
            .unwrap()
            .users;
        let a = Authenticator::with_users(None, true, &users);
        assert_eq!(a.verify("bob-key").await.unwrap().name, "bob");
        assert!(a.verify("bob-key!").await.is_none());
        // Plain bcrypt accepts any extension of a 72-byte key; this gateway does not.
        let extended = format!("{at_limit}extra");
        assert!(
            bcrypt::verify(&extended, users[1].api_key_hash.as_ref().unwrap().as_str()).unwrap()
        );
        assert!(a.verify(&extended).await.is_none());
    }

    #[test]
    fn local_bypass_only_when_disabled_and_loopback() {
        let on = Authenticator::new(None, true);
        let off = Authenticator::new(None, false);
        let lo: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let lo6: SocketAddr = "[::1]:5".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:5".parse().unwrap();
        assert!(on.local_bypass(Some(lo)).is_none());
        assert!(off.local_bypass(Some(lo)).is_some());
        assert!(off.local_bypass(Some(lo6)).is_some());
        assert!(off.local_bypass(Some(remote)).is_none());
        assert!(off.local_bypass(None).is_none());
    }
}
