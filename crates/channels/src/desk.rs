//! The running channels, as the gateway sees them: which are enabled (pairing codes are issued
//! only for those) and the shared path of each, for the web chat route to hand its messages to.
//! A config reload changes the set while the gateway runs.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use rampart_audit::Actor;

use crate::pairing::{Pairing, PairingCode};
use crate::{ChannelError, Inbound};

/// The enabled channels and their shared paths. Cloning the `Arc` around it is the way to share
/// it; the set inside changes on reload.
#[derive(Debug)]
pub struct ChannelDesk {
    pairing: Pairing,
    channels: RwLock<BTreeMap<&'static str, Arc<Inbound>>>,
}

/// The name the gateway's state knows the desk by (it began as the pairing-code desk).
pub type PairingDesk = ChannelDesk;

impl ChannelDesk {
    /// A desk issuing codes through `pairing`, with no channel yet.
    #[must_use]
    pub fn new(pairing: Pairing) -> Self {
        Self {
            pairing,
            channels: RwLock::default(),
        }
    }

    /// Puts `inbound` on the desk under its channel's name (replacing an earlier one).
    pub fn insert(&self, inbound: Arc<Inbound>) {
        self.write().insert(inbound.channel(), inbound);
    }

    /// Takes `channel` off the desk: no more codes for it. Returns whether it was there.
    pub fn remove(&self, channel: &str) -> bool {
        self.write().remove(channel).is_some()
    }

    /// The enabled channels, by name.
    #[must_use]
    pub fn channels(&self) -> Vec<&'static str> {
        self.read().keys().copied().collect()
    }

    /// The shared path of `channel`, when it is enabled.
    #[must_use]
    pub fn inbound(&self, channel: &str) -> Option<Arc<Inbound>> {
        self.read().get(channel).cloned()
    }

    /// Issues a code for `channel`; `None` when that channel is not enabled.
    ///
    /// # Errors
    /// As [`Pairing::issue`].
    pub async fn issue(
        &self,
        channel: &str,
        actor: Actor,
    ) -> Option<Result<PairingCode, ChannelError>> {
        let name = self.inbound(channel)?.channel();
        Some(self.pairing.issue(name, actor).await)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<&'static str, Arc<Inbound>>> {
        self.channels
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<&'static str, Arc<Inbound>>> {
        self.channels
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
