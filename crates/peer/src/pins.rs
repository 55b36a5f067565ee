//! Identity pinning: which static key a node name belongs to.
//!
//! The shared secret proves membership; it does not say *which* member is speaking. Each node's
//! name is bound to its static key: by a configured pin (`[network.pins]`), or trust on first use
//! — the first key seen for a name is remembered (persisted by the gateway in SQLite) and a later
//! claim of the same name with a different key is refused and audited.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{NodeName, PublicKey};

/// What the pin store said about a `(name, key)` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinCheck {
    /// The name was pinned to this key already.
    Known,
    /// The name was unknown; it is now pinned to this key.
    Pinned,
    /// The name is pinned to a different key.
    Mismatch,
}

/// Where name-to-key pins are kept. Implementations compare keys in constant time.
pub trait PinStore: Send + Sync + std::fmt::Debug {
    /// Checks `(node, key)` and pins it when the name is new.
    ///
    /// # Errors
    /// A storage error, as text; the handshake is then refused (fail closed).
    fn check_and_pin(&self, node: &NodeName, key: &PublicKey) -> Result<PinCheck, String>;
}

/// Pins in memory (tests, and nodes without a database).
#[derive(Debug, Default)]
pub struct MemoryPins {
    pins: Mutex<HashMap<NodeName, PublicKey>>,
}

impl PinStore for MemoryPins {
    fn check_and_pin(&self, node: &NodeName, key: &PublicKey) -> Result<PinCheck, String> {
        let mut pins = self
            .pins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match pins.get(node) {
            Some(k) if k.ct_eq(key) => Ok(PinCheck::Known),
            Some(_) => Ok(PinCheck::Mismatch),
            None => {
                pins.insert(node.clone(), *key);
                Ok(PinCheck::Pinned)
            }
        }
    }
}
