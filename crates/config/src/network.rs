//! `[network]`: the peer protocol (SPEC O1, O2). Off unless the section sets `shared_secret`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rampart_core::{Role, SecretRef};

/// The default `listen_addr`: loopback, the port after the API's.
///
/// # Security
/// Like the API (SPEC N1), the peer port is not exposed beyond this machine unless the owner
/// says so.
pub const DEFAULT_PEER_LISTEN: &str = "127.0.0.1:4201";

/// The most entries `peers` and `[network.pins]` may each have.
pub const MAX_PEERS: usize = 64;

/// `[network]`, checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NetworkConfig {
    /// `node_name` (required with `shared_secret`): how peers address this node, `agent@NAME`.
    pub node_name: String,
    /// `listen_addr` (default `127.0.0.1:4201`).
    pub listen_addr: SocketAddr,
    /// `shared_secret`: the membership secret, resolved vault (`peer_secret`) > config >
    /// `RAMPART_PEER_SECRET`; at least 32 bytes.
    pub shared_secret: SecretRef,
    /// `peers` (default empty): `host:port` addresses this node keeps a link to.
    pub peers: Vec<String>,
    /// `peer_role` (default `user`, at most `user`): the role every remote node has here.
    pub peer_role: Role,
    /// `[network.pins]` (default empty): `node = "base64 public key"`; a listed node must
    /// present exactly that key (others are pinned on first use).
    pub pins: BTreeMap<String, String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    node_name: Option<String>,
    listen_addr: Option<String>,
    shared_secret: Option<SecretRef>,
    peers: Option<Vec<String>>,
    peer_role: Option<Role>,
    pins: Option<BTreeMap<String, String>>,
}

fn valid_node_name(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && s.chars().all(ok)
}

impl RawNetwork {
    /// `None` when the section sets no `shared_secret` (the peer network is off); the error
    /// names the key.
    pub(crate) fn into_config(self) -> Result<Option<NetworkConfig>, (&'static str, String)> {
        let listen_addr = self
            .listen_addr
            .as_deref()
            .unwrap_or(DEFAULT_PEER_LISTEN)
            .parse()
            .map_err(|_| {
                (
                    "listen_addr",
                    "is not an address like \"127.0.0.1:4201\"".to_owned(),
                )
            })?;
        let peers = self.peers.unwrap_or_default();
        if peers.len() > MAX_PEERS {
            return Err(("peers", format!("at most {MAX_PEERS} entries")));
        }
        for p in &peers {
            let ok = p
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(("peers", format!("{p:?} is not \"host:port\"")));
            }
        }
        let peer_role = self.peer_role.unwrap_or(Role::User);
        if peer_role > Role::User {
            return Err((
                "peer_role",
                "must be \"viewer\" or \"user\": a remote node never gets more".to_owned(),
            ));
        }
        let pins = self.pins.unwrap_or_default();
        if pins.len() > MAX_PEERS {
            return Err(("pins", format!("at most {MAX_PEERS} entries")));
        }
        for (name, key) in &pins {
            if !valid_node_name(name) {
                return Err(("pins", format!("{name:?} is not a node name")));
            }
            let b64 = key.len() == 44
                && key.ends_with('=')
                && key[..43]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
            if !b64 {
                return Err(("pins", format!("{name}: not a base64 32-byte public key")));
            }
        }
        let Some(shared_secret) = self.shared_secret else {
            return Ok(None);
        };
        let node_name = self.node_name.ok_or((
            "node_name",
            "is required with shared_secret (peers address agents as agent@node_name)".to_owned(),
        ))?;
        if !valid_node_name(&node_name) {
            return Err((
                "node_name",
                "use 1-64 lowercase letters, digits, `-` or `_`".to_owned(),
            ));
        }
        Ok(Some(NetworkConfig {
            node_name,
            listen_addr,
            shared_secret,
            peers,
            peer_role,
            pins,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use crate::Config;

    fn parse(s: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml_str(s, "config.toml")
    }

    #[test]
    fn network_is_off_by_default_and_read_when_set() {
        assert!(parse("").unwrap().network.is_none());
        assert!(
            parse("[network]\nnode_name = \"home\"\n")
                .unwrap()
                .network
                .is_none()
        );
        let c = parse(
            "[network]\nnode_name = \"home\"\nshared_secret = \"vault:peer_secret\"\n\
             peers = [\"10.0.0.2:4201\"]\n[network.pins]\nlaptop = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n",
        )
        .unwrap();
        let n = c.network.unwrap();
        assert_eq!(n.node_name, "home");
        assert_eq!(n.listen_addr.to_string(), "127.0.0.1:4201");
        assert_eq!(n.peers, vec!["10.0.0.2:4201".to_owned()]);
        assert_eq!(n.peer_role, rampart_core::Role::User);
        assert_eq!(n.pins.len(), 1);
    }

    #[test]
    fn bad_network_values_name_the_key() {
        for (bad, key) in [
            ("shared_secret = \"env:S\"\n", "network.node_name"),
            (
                "shared_secret = \"env:S\"\nnode_name = \"Home\"\n",
                "network.node_name",
            ),
            ("peer_role = \"admin\"\n", "network.peer_role"),
            ("peers = [\"nowhere\"]\n", "network.peers"),
            ("listen_addr = \"localhost\"\n", "network.listen_addr"),
            ("[network.pins]\nx = \"short\"\n", "network.pins"),
        ] {
            let err = parse(&format!("[network]\n{bad}")).unwrap_err().to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
        assert!(parse("[network]\nsecret = \"x\"\n").is_err());
    }
}
