//! What a [`crate::PeerNode`] is told at start: its name, where to listen and dial, the role it
//! gives remote nodes, configured pins, and the limits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rampart_core::Role;

use crate::{NodeName, PublicKey};

/// How long a handshake may take from accept (or connect) to the last message.
///
/// # Security
/// An unauthenticated peer that connects and stalls holds a handshake slot; five seconds is
/// ample for three small messages on any working link and frees the slot soon.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a TCP connect to a configured peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request waits for the remote agent's reply.
///
/// # Security
/// A remote node that never answers must not hold a local tool call (and its turn) forever; an
/// agent turn with tool calls can take a while, two minutes bounds it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How often an idle link sends a ping.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// How long a link may be silent before it is closed.
///
/// # Security
/// A peer that stops reading or sending after the handshake is dropped; three keep-alive
/// intervals tolerate a lost ping.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The most authenticated links at once.
///
/// # Security
/// Every link costs two tasks and buffers; holders of the shared secret are few and trusted, this
/// bounds a member gone rogue or a bug.
pub const MAX_LINKS: usize = 64;

/// The most links to one node: one it dialed and one it accepted.
///
/// # Security
/// A newer link in the same direction replaces the older one, so a restarted peer reconnects at
/// once and no node can pile up links.
pub const MAX_LINKS_PER_NODE: usize = 2;

/// The most handshakes in progress at once, over all sources.
///
/// # Security
/// Handshakes are the unauthenticated surface: this bounds memory and CPU (two X25519 operations
/// each) that anyone who can reach the port can cost this node.
pub const MAX_PENDING_HANDSHAKES: usize = 16;

/// The most handshakes in progress from one IP address.
///
/// # Security
/// One address cannot take all [`MAX_PENDING_HANDSHAKES`] slots and lock real peers out.
pub const MAX_PENDING_HANDSHAKES_PER_IP: usize = 4;

/// The most requests from one link that run at once; more are refused `busy`.
///
/// # Security
/// Each request runs an agent turn (model calls, tools); a remote node cannot start more than
/// this many at a time.
pub const MAX_INFLIGHT_PER_LINK: usize = 8;

/// The first and the largest reconnect delay; each failure doubles it, and every wait is
/// jittered by ±50% so restarted nodes don't reconnect in lockstep.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// See [`BACKOFF_INITIAL`].
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The limits of a node; the defaults are the constants of this module.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeerLimits {
    /// [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// [`KEEPALIVE_INTERVAL`].
    pub keepalive: Duration,
    /// [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// [`MAX_LINKS`].
    pub max_links: usize,
    /// [`MAX_PENDING_HANDSHAKES`].
    pub max_pending_handshakes: usize,
    /// [`MAX_PENDING_HANDSHAKES_PER_IP`].
    pub max_pending_per_ip: usize,
    /// [`MAX_INFLIGHT_PER_LINK`].
    pub max_inflight_per_link: usize,
    /// [`BACKOFF_INITIAL`].
    pub backoff_initial: Duration,
    /// [`BACKOFF_MAX`].
    pub backoff_max: Duration,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: HANDSHAKE_TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            keepalive: KEEPALIVE_INTERVAL,
            idle_timeout: IDLE_TIMEOUT,
            max_links: MAX_LINKS,
            max_pending_handshakes: MAX_PENDING_HANDSHAKES,
            max_pending_per_ip: MAX_PENDING_HANDSHAKES_PER_IP,
            max_inflight_per_link: MAX_INFLIGHT_PER_LINK,
            backoff_initial: BACKOFF_INITIAL,
            backoff_max: BACKOFF_MAX,
        }
    }
}

/// A node's settings (the gateway builds this from `[network]`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeerConfig {
    /// How peers address this node (`agent@node_name`).
    pub node_name: NodeName,
    /// Where to accept links; `None` dials out only.
    pub listen_addr: Option<SocketAddr>,
    /// `host:port` addresses to keep a link to (reconnecting with backoff).
    pub peers: Vec<String>,
    /// The role every remote node gets here (`[network] peer_role`, default `user`).
    pub peer_role: Role,
    /// Configured name → key pins; a pinned name must present exactly this key, and names not
    /// listed fall back to trust on first use.
    pub pins: BTreeMap<NodeName, PublicKey>,
    /// Limits.
    pub limits: PeerLimits,
}

impl PeerConfig {
    /// Settings with the defaults: no listener, no peers, role `user`, no configured pins.
    #[must_use]
    pub fn new(node_name: NodeName) -> Self {
        Self {
            node_name,
            listen_addr: None,
            peers: Vec::new(),
            peer_role: Role::User,
            pins: BTreeMap::new(),
            limits: PeerLimits::default(),
        }
    }
}
