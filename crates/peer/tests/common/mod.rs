//! Helpers for the peer network's attack tests: in-process nodes on 127.0.0.1:0, a handler that
//! counts what it ran, and a man-in-the-middle proxy that records and tampers with frames.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    unreachable_pub,
    reason = "test helpers: a failure is a test failure; not every test uses every helper"
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_peer::{
    FrameDecoder, InboundHandler, InboundRefusal, InboundRequest, MAX_FRAME_BYTES, MemoryPins,
    NodeIdentity, PeerConfig, PeerEvent, PeerNode, PinStore,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

pub const SECRET: &[u8] = b"the shared secret of nodes a and b, 32+ bytes";
pub const OTHER_SECRET: &[u8] = b"a different secret that node c was given......";

/// Answers every request and counts them.
#[derive(Debug, Default)]
pub struct Echo {
    pub calls: AtomicUsize,
    pub seen: Mutex<Vec<InboundRequest>>,
}

#[async_trait::async_trait]
impl InboundHandler for Echo {
    async fn handle(&self, r: InboundRequest) -> Result<String, InboundRefusal> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let reply = format!(
            "{} got {:?} from {}@{} as {}",
            r.to_agent, r.text, r.from_agent, r.from_node, r.role
        );
        self.seen.lock().unwrap().push(r);
        Ok(reply)
    }
}

pub struct TestNode {
    pub node: Arc<PeerNode>,
    pub addr: SocketAddr,
    pub events: broadcast::Receiver<PeerEvent>,
    pub echo: Arc<Echo>,
    pub identity_b64: String,
}

impl TestNode {
    pub fn calls(&self) -> usize {
        self.echo.calls.load(Ordering::SeqCst)
    }
}

pub fn config(name: &str) -> PeerConfig {
    let mut cfg = PeerConfig::new(name.parse().unwrap());
    cfg.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    cfg
}

/// A listening node.
pub async fn node(name: &str, secret: &[u8]) -> TestNode {
    node_with(config(name), secret, None, Arc::new(MemoryPins::default())).await
}

pub async fn node_with(
    cfg: PeerConfig,
    secret: &[u8],
    identity: Option<&str>,
    pins: Arc<dyn PinStore>,
) -> TestNode {
    let identity = match identity {
        Some(b64) => NodeIdentity::from_base64(b64).unwrap(),
        None => NodeIdentity::generate().unwrap(),
    };
    let identity_b64 = identity.to_base64().to_string();
    let node = PeerNode::new(cfg, identity, secret, pins, None).unwrap();
    let events = node.subscribe();
    let echo = Arc::new(Echo::default());
    let addr = node.start(echo.clone()).await.unwrap().unwrap();
    TestNode {
        node,
        addr,
        events,
        echo,
        identity_b64,
    }
}

/// Waits (bounded) for the first event matching `pred`.
pub async fn wait_for(
    rx: &mut broadcast::Receiver<PeerEvent>,
    pred: impl Fn(&PeerEvent) -> bool,
) -> PeerEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("event channel closed"),
            }
        }
    })
    .await
    .expect("the expected peer event did not come")
}

/// Reads one whole frame from a raw socket (`None` at end of stream or on error).
pub async fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 2];
    s.read_exact(&mut header).await.ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(header))];
    s.read_exact(&mut body).await.ok()?;
    Some(body)
}

pub async fn write_frame(s: &mut TcpStream, body: &[u8]) {
    s.write_all(&rampart_peer::encode_frame(body).unwrap())
        .await
        .unwrap();
}

/// True when the peer closes `s` within the bound (reads to EOF or a reset).
pub async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// What the proxy does to the initiator's frames once the handshake (frames 0 and 1 of that
/// direction: messages 1 and 3) is through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// Forward as is.
    Nothing,
    /// Flip one bit of the first transport frame.
    FlipBit,
    /// Forward the first transport frame twice.
    Replay,
    /// Forward the second transport frame before the first.
    Reorder,
}

/// A man in the middle between an initiator and `target`, for one connection. Returns its
/// address and the initiator's frames as it saw them.
pub async fn proxy(target: SocketAddr, tamper: Tamper) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(target).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            let _ = cw.shutdown().await;
        });
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        let mut buf = vec![0u8; 16 * 1024];
        let mut index = 0usize;
        let mut held: Option<Vec<u8>> = None;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            decoder.push(&buf[..n]);
            while let Ok(Some(frame)) = decoder.next_frame() {
                record.lock().unwrap().push(frame.clone());
                let transport = index >= 2;
                let first = index == 2;
                index += 1;
                let mut out = vec![frame.clone()];
                if transport {
                    match tamper {
                        Tamper::FlipBit if first => {
                            let mut f = frame.clone();
                            let mid = f.len() / 2;
                            f[mid] ^= 0x01;
                            out = vec![f];
                        }
                        Tamper::Replay if first => out = vec![frame.clone(), frame.clone()],
                        Tamper::Reorder if first => {
                            held = Some(frame.clone());
                            out = vec![];
                        }
                        Tamper::Reorder => {
                            if let Some(h) = held.take() {
                                out.push(h);
                            }
                        }
                        _ => {}
                    }
                }
                for f in out {
                    if sw
                        .write_all(&rampart_peer::encode_frame(&f).unwrap())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sw.shutdown().await;
    });
    (addr, seen)
}
