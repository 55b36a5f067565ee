//! The running node: the listener, the dialers, the authenticated links and request routing.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_audit::{Actor, AuditSink, Event, Outcome, Record};
use rampart_core::AgentName;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, oneshot, watch};
use zeroize::Zeroizing;

use crate::frame::{FrameReader, MAX_FRAME_BYTES, MAX_HANDSHAKE_FRAME_BYTES, write_frame};
use crate::handshake::{self, Established, Opener, Sealer};
use crate::message::{Body, MAX_PEER_TEXT_BYTES, truncate};
use crate::pins::{PinCheck, PinStore};
use crate::{
    InboundHandler, InboundRefusal, InboundRequest, NodeIdentity, NodeName, PeerAddress,
    PeerConfig, PeerError, PublicKey, Refusal,
};

/// The most of this node's own requests waiting for answers on one link.
///
/// # Security
/// Bounds the pending-answer table; local agents are the only ones adding to it.
pub const MAX_PENDING_REQUESTS_PER_LINK: usize = 64;

/// A link that stayed up this long resets the reconnect backoff.
const STABLE_LINK: Duration = Duration::from_secs(30);

mod link;

/// Which side opened a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer dialed this node.
    In,
    /// This node dialed the peer.
    Out,
}

impl Direction {
    /// `in` or `out`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// One row of `GET /api/peers` and `rampart peers list`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeerInfo {
    /// The node's name (`None` for a configured address never reached).
    pub node: Option<String>,
    /// The peer's address (the configured `host:port` for outgoing links).
    pub addr: String,
    /// Which side dialed.
    pub direction: Direction,
    /// Whether an authenticated link is up.
    pub connected: bool,
    /// When the last authenticated frame arrived, seconds since the Unix epoch.
    pub last_seen: Option<i64>,
    /// The node's static public key (base64), as pinned.
    pub key: Option<String>,
}

/// What happened on the network, for observers (tests, metrics). Every one is audited too.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A link was authenticated.
    Connected {
        /// The peer.
        node: NodeName,
        /// Its address.
        addr: SocketAddr,
        /// Which side dialed.
        direction: Direction,
    },
    /// A handshake or link was refused.
    Refused {
        /// The claimed name, if the handshake got that far.
        node: Option<NodeName>,
        /// The address.
        addr: SocketAddr,
        /// Which side dialed.
        direction: Direction,
        /// Why.
        reason: Refusal,
    },
    /// An authenticated link closed.
    Disconnected {
        /// The peer.
        node: NodeName,
        /// Which side dialed.
        direction: Direction,
        /// Why.
        reason: Refusal,
    },
}

/// The answers this node waits for on one link, by request id.
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<String, PeerError>>>>>;

/// Shared state of one authenticated link.
#[derive(Debug, Clone)]
struct Link {
    id: u64,
    node: NodeName,
    key: PublicKey,
    addr: SocketAddr,
    /// The configured address for outgoing links.
    dialed: Option<String>,
    direction: Direction,
    last_seen: Arc<AtomicI64>,
    tx: mpsc::Sender<Body>,
    pending: Pending,
    close: Arc<Notify>,
}

/// What a dialer knows about its address between links.
#[derive(Debug, Clone, Default)]
struct DialStatus {
    node: Option<NodeName>,
    key: Option<PublicKey>,
    last_seen: Option<i64>,
}

/// A peer node. Create with [`PeerNode::new`], then [`PeerNode::start`] it with the handler
/// that runs requests from remote nodes.
pub struct PeerNode {
    cfg: PeerConfig,
    identity: NodeIdentity,
    psk: Zeroizing<[u8; 32]>,
    pins: Arc<dyn PinStore>,
    audit: Option<AuditSink>,
    handler: OnceLock<Arc<dyn InboundHandler>>,
    links: Mutex<BTreeMap<u64, Link>>,
    dialers: Mutex<BTreeMap<String, DialStatus>>,
    next_link: AtomicU64,
    next_request: AtomicU64,
    handshakes: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    events: broadcast::Sender<PeerEvent>,
    shutdown: watch::Sender<bool>,
    local_addr: OnceLock<SocketAddr>,
}

impl std::fmt::Debug for PeerNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerNode")
            .field("node", &self.cfg.node_name)
            .field("public", &self.identity.public())
            .field("listen", &self.local_addr.get())
            .finish_non_exhaustive()
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decrements the per-IP handshake count when a handshake ends.
struct IpSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.map);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl PeerNode {
    /// A node with `identity`, keyed by `shared_secret` (the PSK is derived from it, see
    /// [`crate::derive_psk`]), pinning identities in `pins` and auditing to `audit`.
    ///
    /// # Errors
    /// [`PeerError::InvalidKey`] for a short shared secret.
    pub fn new(
        cfg: PeerConfig,
        identity: NodeIdentity,
        shared_secret: &[u8],
        pins: Arc<dyn PinStore>,
        audit: Option<AuditSink>,
    ) -> Result<Arc<Self>, PeerError> {
        let psk = crate::derive_psk(shared_secret)?;
        let (events, _) = broadcast::channel(256);
        let handshakes = Arc::new(Semaphore::new(cfg.limits.max_pending_handshakes));
        let dialers = cfg
            .peers
            .iter()
            .map(|a| (a.clone(), DialStatus::default()))
            .collect();
        Ok(Arc::new(Self {
            cfg,
            identity,
            psk,
            pins,
            audit,
            handler: OnceLock::new(),
            links: Mutex::new(BTreeMap::new()),
            dialers: Mutex::new(dialers),
            next_link: AtomicU64::new(1),
            next_request: AtomicU64::new(1),
            handshakes,
            per_ip: Arc::new(Mutex::new(HashMap::new())),
            events,
            shutdown: watch::channel(false).0,
            local_addr: OnceLock::new(),
        }))
    }

    /// This node's name.
    #[must_use]
    pub fn name(&self) -> &NodeName {
        &self.cfg.node_name
    }

    /// This node's static public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.identity.public()
    }

    /// The address the listener is bound to, once started.
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr.get().copied()
    }

    /// Network events as they happen.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// Binds the listener (if configured), starts one dialer per configured peer, and serves
    /// requests with `handler`. Returns the bound address.
    ///
    /// # Errors
    /// [`PeerError::Io`] when the listener cannot be bound.
    pub async fn start(
        self: &Arc<Self>,
        handler: Arc<dyn InboundHandler>,
    ) -> Result<Option<SocketAddr>, PeerError> {
        let _ = self.handler.set(handler);
        let mut bound = None;
        if let Some(addr) = self.cfg.listen_addr {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            let _ = self.local_addr.set(local);
            bound = Some(local);
            tokio::spawn(Arc::clone(self).accept_loop(listener));
        }
        for addr in self.cfg.peers.clone() {
            tokio::spawn(Arc::clone(self).dialer(addr));
        }
        Ok(bound)
    }

    /// Stops the listener and the dialers and closes every link (each peer gets a close
    /// message).
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        for link in lock(&self.links).values() {
            link.close.notify_one();
        }
        for _ in 0..50 {
            if lock(&self.links).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The links, and the configured addresses without one.
    #[must_use]
    pub fn peers(&self) -> Vec<PeerInfo> {
        let links = lock(&self.links);
        let mut out: Vec<PeerInfo> = links
            .values()
            .map(|l| PeerInfo {
                node: Some(l.node.to_string()),
                addr: l.dialed.clone().unwrap_or_else(|| l.addr.to_string()),
                direction: l.direction,
                connected: true,
                last_seen: Some(l.last_seen.load(Ordering::Relaxed)),
                key: Some(l.key.to_string()),
            })
            .collect();
        for (addr, status) in lock(&self.dialers).iter() {
            let up = links.values().any(|l| l.dialed.as_deref() == Some(addr));
            if !up {
                out.push(PeerInfo {
                    node: status.node.as_ref().map(ToString::to_string),
                    addr: addr.clone(),
                    direction: Direction::Out,
                    connected: false,
                    last_seen: status.last_seen,
                    key: status.key.map(|k| k.to_string()),
                });
            }
        }
        out
    }

    /// Sends `text` from the local agent `from` to `to` and waits for the reply.
    ///
    /// # Errors
    /// [`PeerError::NotConnected`], [`PeerError::MessageTooLarge`], [`PeerError::Timeout`],
    /// [`PeerError::Closed`], [`PeerError::Remote`] (the remote refused), [`PeerError::Busy`].
    pub async fn send(
        &self,
        from: &AgentName,
        to: &PeerAddress,
        text: &str,
    ) -> Result<String, PeerError> {
        if text.len() > MAX_PEER_TEXT_BYTES {
            return Err(PeerError::MessageTooLarge(text.len()));
        }
        let link = lock(&self.links)
            .values()
            .filter(|l| l.node == to.node)
            .max_by_key(|l| l.id)
            .cloned()
            .ok_or_else(|| PeerError::NotConnected(to.node.to_string()))?;
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let body = Body::Request {
            id,
            from: from.to_string(),
            to: to.agent.to_string(),
            text: text.to_owned(),
        };
        body.encode()?;
        let (otx, orx) = oneshot::channel();
        {
            let mut pending = lock(&link.pending);
            if pending.len() >= MAX_PENDING_REQUESTS_PER_LINK {
                return Err(PeerError::Busy("too many requests waiting on this link"));
            }
            pending.insert(id, otx);
        }
        let result = if link.tx.send(body).await.is_err() {
            Err(PeerError::Closed)
        } else {
            match tokio::time::timeout(self.cfg.limits.request_timeout, orx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(PeerError::Closed),
                Err(_) => Err(PeerError::Timeout),
            }
        };
        lock(&link.pending).remove(&id);
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(PeerError::Remote { .. }) => Outcome::Denied,
            Err(_) => Outcome::Error,
        };
        self.audit_record(
            Record::new(Event::PeerMessage {
                from: format!("{from}@{}", self.cfg.node_name),
                to: to.to_string(),
                direction: "out".to_owned(),
            })
            .agent(from.clone())
            .actor(Actor::Agent(from.clone()))
            .outcome(outcome),
        )
        .await;
        result
    }

    /// Dials `addr` once: connect, handshake, and run the link in the background. Returns the
    /// authenticated node's name. The configured peers are dialed (and redialed) by
    /// [`PeerNode::start`]; this is for one-off links and tests.
    ///
    /// # Errors
    /// [`PeerError::Refused`] (with the reason), [`PeerError::Io`].
    pub async fn connect(self: &Arc<Self>, addr: &str) -> Result<NodeName, PeerError> {
        let (node, _done) = self.establish_out(addr).await?;
        Ok(node)
    }

    async fn audit_record(&self, record: Record) {
        if let Some(a) = &self.audit
            && let Err(e) = a.record(record).await
        {
            tracing::error!(error = %e, "could not append to the audit trail");
        }
    }

    async fn refused(
        &self,
        node: Option<&NodeName>,
        addr: SocketAddr,
        direction: Direction,
        reason: Refusal,
    ) {
        tracing::warn!(
            node = node.map_or("", NodeName::as_str),
            %addr,
            direction = direction.as_str(),
            %reason,
            "peer refused"
        );
        let _ = self.events.send(PeerEvent::Refused {
            node: node.cloned(),
            addr,
            direction,
            reason: reason.clone(),
        });
        let actor = node.map_or(Actor::Ip(addr.ip()), |n| Actor::Peer(n.to_string()));
        self.audit_record(
            Record::new(Event::PeerRefused {
                node: node.map(ToString::to_string).unwrap_or_default(),
                addr: addr.to_string(),
                direction: direction.as_str().to_owned(),
                reason: reason.to_string(),
            })
            .actor(actor)
            .outcome(Outcome::Denied),
        )
        .await;
    }

    /// The identity rule: a configured pin must match exactly; otherwise trust on first use.
    fn check_identity(&self, node: &NodeName, key: &PublicKey) -> Result<(), Refusal> {
        if let Some(pinned) = self.cfg.pins.get(node) {
            return if pinned.ct_eq(key) {
                Ok(())
            } else {
                Err(Refusal::IdentityMismatch)
            };
        }
        match self.pins.check_and_pin(node, key) {
            Ok(PinCheck::Known | PinCheck::Pinned) => Ok(()),
            Ok(PinCheck::Mismatch) => Err(Refusal::IdentityMismatch),
            Err(e) => {
                tracing::error!(error = %e, "peer pin store failed; refusing the peer");
                Err(Refusal::IdentityMismatch)
            }
        }
    }

    /// Takes a handshake slot for `ip`, or `None` when the limits are reached.
    fn handshake_slot(&self, ip: IpAddr) -> Option<(tokio::sync::OwnedSemaphorePermit, IpSlot)> {
        let permit = Arc::clone(&self.handshakes).try_acquire_owned().ok()?;
        let mut map = lock(&self.per_ip);
        let n = map.entry(ip).or_insert(0);
        if *n >= self.cfg.limits.max_pending_per_ip {
            return None;
        }
        *n += 1;
        Some((
            permit,
            IpSlot {
                map: Arc::clone(&self.per_ip),
                ip,
            },
        ))
    }

    async fn accept_loop(self: Arc<Self>, listener: tokio::net::TcpListener) {
        let mut stop = self.shutdown.subscribe();
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = stop.changed() => return,
            };
            let Ok((stream, addr)) = accepted else {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Some(slot) = self.handshake_slot(addr.ip()) else {
                drop(stream);
                self.refused(None, addr, Direction::In, Refusal::TooManyConnections)
                    .await;
                continue;
            };
            let node = Arc::clone(&self);
            tokio::spawn(node.handle_incoming(stream, addr, slot));
        }
    }

    /// Answers one incoming handshake. `slot` counts it among the handshakes in flight (overall
    /// and for its IP) until the handshake ends either way; an established link is then bounded
    /// by the link limits instead, so long-lived links never use up the handshake slots.
    async fn handle_incoming(
        self: Arc<Self>,
        stream: TcpStream,
        addr: SocketAddr,
        slot: (tokio::sync::OwnedSemaphorePermit, IpSlot),
    ) {
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut reader = FrameReader::new(read, MAX_HANDSHAKE_FRAME_BYTES);
        let hs = tokio::time::timeout(
            self.cfg.limits.handshake_timeout,
            handshake::respond(
                &mut reader,
                &mut write,
                &self.identity,
                &self.psk,
                &self.cfg.node_name,
                |n, k| self.check_identity(n, k),
            ),
        )
        .await;
        let hs = flatten(hs);
        drop(slot);
        match hs {
            Ok(est) => {
                if let Some(done) = self
                    .register(est, addr, None, Direction::In, reader, write)
                    .await
                {
                    let _ = done.await;
                }
            }
            Err((node, reason)) => {
                self.refused(node.as_ref(), addr, Direction::In, reason)
                    .await;
            }
        }
    }

    /// Connects and handshakes with `addr`; on success the link runs in the background and the
    /// receiver resolves when it closes.
    async fn establish_out(
        self: &Arc<Self>,
        addr: &str,
    ) -> Result<(NodeName, oneshot::Receiver<()>), PeerError> {
        let stream =
            tokio::time::timeout(self.cfg.limits.connect_timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| PeerError::Io(std::io::ErrorKind::TimedOut.into()))??;
        let _ = stream.set_nodelay(true);
        let peer_addr = stream.peer_addr()?;
        let (read, mut write) = stream.into_split();
        let mut reader = FrameReader::new(read, MAX_HANDSHAKE_FRAME_BYTES);
        let hs = tokio::time::timeout(
            self.cfg.limits.handshake_timeout,
            handshake::initiate(
                &mut reader,
                &mut write,
                &self.identity,
                &self.psk,
                &self.cfg.node_name,
                |n, k| self.check_identity(n, k),
            ),
        )
        .await;
        match flatten(hs) {
            Ok(est) => {
                let node = est.node.clone();
                let key = est.key;
                let done = self
                    .register(
                        est,
                        peer_addr,
                        Some(addr.to_owned()),
                        Direction::Out,
                        reader,
                        write,
                    )
                    .await
                    .ok_or(PeerError::Refused(Refusal::TooManyConnections))?;
                if let Some(s) = lock(&self.dialers).get_mut(addr) {
                    s.node = Some(node.clone());
                    s.key = Some(key);
                }
                Ok((node, done))
            }
            Err((node, reason)) => {
                self.refused(node.as_ref(), peer_addr, Direction::Out, reason.clone())
                    .await;
                Err(PeerError::Refused(reason))
            }
        }
    }

    /// Keeps a link to `addr`: dial, run the link, wait with exponential backoff and jitter,
    /// dial again — until shutdown.
    async fn dialer(self: Arc<Self>, addr: String) {
        let mut stop = self.shutdown.subscribe();
        let mut backoff = self.cfg.limits.backoff_initial;
        loop {
            if *stop.borrow() {
                return;
            }
            let started = Instant::now();
            match self.establish_out(&addr).await {
                Ok((_, done)) => {
                    let _ = done.await;
                }
                Err(e) => tracing::debug!(%addr, error = %e, "peer dial failed"),
            }
            if started.elapsed() >= STABLE_LINK {
                backoff = self.cfg.limits.backoff_initial;
            }
            let wait = jitter(backoff);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(self.cfg.limits.backoff_max);
        }
    }
}

/// `Ok` of an `Ok`, else the claimed name (if any) and the reason.
fn flatten(
    r: Result<Result<Established, handshake::Failure>, tokio::time::error::Elapsed>,
) -> Result<Established, handshake::Failure> {
    match r {
        Ok(r) => r,
        Err(_) => Err((None, Refusal::HandshakeTimeout)),
    }
}

/// `base` scaled by a random factor in [0.5, 1.5).
fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.5 + rand::random::<f64>())
}
