//! The peer network at start-up (SPEC O1, O2): the shared secret (vault `peer_secret` > config >
//! `RAMPART_PEER_SECRET`), the node's identity key from the vault (generated at `init`, or on
//! first start for older homes), name-to-key pins in the store, and the node itself.

use std::sync::Arc;

use rampart_config::Config;
use rampart_peer::{NodeIdentity, PeerConfig, PeerNode, PinCheck, PinStore, PublicKey};
use rampart_store::{PeerPin, Store};
use rampart_vault::{ExposeSecret as _, SecretString, Setting, Vault};

use crate::exit::CliError;
use crate::secrets::{Secrets, vault_error};

/// The vault entry holding the node's static X25519 private key (base64 of 32 bytes).
pub(crate) const PEER_IDENTITY_ENTRY: &str = "peer_identity_key";

/// The vault entry and environment variable of the shared secret.
const PEER_SECRET_SETTING: Setting<'static> = Setting {
    vault_name: "peer_secret",
    env_var: "RAMPART_PEER_SECRET",
};

/// The shared secret when `[network]` is on.
pub(crate) fn secret(config: &Config, secrets: &Secrets) -> Result<Option<SecretString>, CliError> {
    let Some(net) = &config.network else {
        return Ok(None);
    };
    let s = secrets
        .resolver()
        .resolve_setting(PEER_SECRET_SETTING, Some(&net.shared_secret))
        .map_err(|e| CliError::usage(anyhow::anyhow!("network.shared_secret: {e}")))?;
    if s.expose_secret().len() < rampart_peer::MIN_SHARED_SECRET_BYTES {
        return Err(CliError::usage(anyhow::anyhow!(
            "network.shared_secret must be at least {} bytes: use `rampart keygen`",
            rampart_peer::MIN_SHARED_SECRET_BYTES
        )));
    }
    Ok(Some(s))
}

/// The node identity stored in `vault`, generated and saved there if missing.
pub(crate) fn identity_in(vault: &mut Vault) -> Result<NodeIdentity, CliError> {
    if let Some(stored) = vault.get(PEER_IDENTITY_ENTRY) {
        return NodeIdentity::from_base64(stored.expose_secret()).map_err(|e| {
            CliError::usage(anyhow::anyhow!("vault entry {PEER_IDENTITY_ENTRY}: {e}"))
        });
    }
    let id = NodeIdentity::generate().map_err(CliError::runtime)?;
    vault
        .set(
            PEER_IDENTITY_ENTRY,
            SecretString::from(id.to_base64().to_string()),
        )
        .map_err(vault_error)?;
    vault.save().map_err(vault_error)?;
    Ok(id)
}

/// Trust-on-first-use pins in the SQLite store.
#[derive(Debug)]
struct StorePins(Store);

impl PinStore for StorePins {
    fn check_and_pin(
        &self,
        node: &rampart_peer::NodeName,
        key: &PublicKey,
    ) -> Result<PinCheck, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        match self.0.peer_pin(node.as_str(), key.as_bytes(), now) {
            Ok(PeerPin::Known) => Ok(PinCheck::Known),
            Ok(PeerPin::Pinned) => Ok(PinCheck::Pinned),
            Ok(_) => Ok(PinCheck::Mismatch),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The node for `[network]`, not yet started; `None` when the network is off.
pub(crate) fn node(
    config: &Config,
    secrets: &mut Secrets,
    secret: Option<&SecretString>,
    store: &Store,
    audit: Option<rampart_audit::AuditSink>,
) -> Result<Option<Arc<PeerNode>>, CliError> {
    let (Some(net), Some(secret)) = (&config.network, secret) else {
        return Ok(None);
    };
    let vault = secrets.vault_mut().ok_or_else(|| {
        CliError::usage(anyhow::anyhow!(
            "[network] needs the node's identity key, kept in the vault, and this home has none: run `rampart init`"
        ))
    })?;
    let identity = identity_in(vault)?;
    let bad = |key: &str, e: rampart_peer::PeerError| {
        CliError::usage(anyhow::anyhow!("network.{key}: {e}"))
    };
    let mut cfg = PeerConfig::new(net.node_name.parse().map_err(|e| bad("node_name", e))?);
    cfg.listen_addr = Some(net.listen_addr);
    cfg.peers = net.peers.clone();
    cfg.peer_role = net.peer_role;
    for (name, key) in &net.pins {
        cfg.pins.insert(
            name.parse().map_err(|e| bad("pins", e))?,
            key.parse().map_err(|e| bad("pins", e))?,
        );
    }
    let node = PeerNode::new(
        cfg,
        identity,
        secret.expose_secret().as_bytes(),
        Arc::new(StorePins(store.clone())),
        audit,
    )
    .map_err(|e| bad("shared_secret", e))?;
    Ok(Some(node))
}

/// Starts the node in `state` (if any) with the gateway's handler; prints where it listens.
pub(crate) async fn start(state: &rampart_gateway::AppState) -> Result<(), CliError> {
    let Some(node) = &state.peers else {
        return Ok(());
    };
    let handler = Arc::new(rampart_gateway::peers::PeerHandler::new(state.clone()));
    let addr = node
        .start(handler)
        .await
        .map_err(|e| CliError::runtime(anyhow::anyhow!("starting the peer network: {e}")))?;
    if let Some(addr) = addr {
        eprintln!("peer network listening on {addr} as {}", node.name());
    }
    Ok(())
}
