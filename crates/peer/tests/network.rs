//! The peer network's must-show tests: three nodes on 127.0.0.1 — `a` and `b` share the secret
//! and exchange agent messages, `c` has another secret — and the attacks on the handshake and
//! the frames, each of which must fail.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rampart_core::{AgentName, Role};
use rampart_peer::{Direction, MemoryPins, PeerError, PeerEvent, PinStore, Refusal};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

fn agent(s: &str) -> AgentName {
    s.parse().unwrap()
}

fn refused_with(reason: Refusal) -> impl Fn(&PeerEvent) -> bool {
    move |e| matches!(e, PeerEvent::Refused { reason: r, .. } if *r == reason)
}

fn disconnected_with(reason: Refusal) -> impl Fn(&PeerEvent) -> bool {
    move |e| matches!(e, PeerEvent::Disconnected { reason: r, .. } if *r == reason)
}

#[tokio::test]
async fn a_and_b_share_the_secret_and_exchange_agent_messages() {
    let a = node("a", SECRET).await;
    let b = node("b", SECRET).await;
    assert_eq!(
        a.node.connect(&b.addr.to_string()).await.unwrap().as_str(),
        "b"
    );

    let reply = a
        .node
        .send(
            &agent("planner"),
            &"assistant@b".parse().unwrap(),
            "hello b",
        )
        .await
        .unwrap();
    assert_eq!(reply, "assistant got \"hello b\" from planner@a as user");
    // b answers over the same link, the other way round.
    let reply = b
        .node
        .send(&agent("helper"), &"planner@a".parse().unwrap(), "hello a")
        .await
        .unwrap();
    assert_eq!(reply, "planner got \"hello a\" from helper@b as user");
    assert_eq!((a.calls(), b.calls()), (1, 1));
    // The receiving side saw the authenticated node and key, and the role it configured.
    let seen = b.echo.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.from_node.as_str(), "a");
    assert!(seen.from_key.ct_eq(&a.node.public_key()));
    assert_eq!(seen.role, Role::User);

    let pa = a.node.peers();
    let pb = b.node.peers();
    assert_eq!(pa.len(), 1);
    assert_eq!(pa[0].node.as_deref(), Some("b"));
    assert_eq!(pa[0].direction, Direction::Out);
    assert!(pa[0].connected);
    assert_eq!(pa[0].key, Some(b.node.public_key().to_string()));
    assert_eq!(pb[0].node.as_deref(), Some("a"));
    assert_eq!(pb[0].direction, Direction::In);
    assert!(pb[0].last_seen.is_some());

    // A message to a node with no link fails cleanly.
    let err = a
        .node
        .send(&agent("planner"), &"assistant@zed".parse().unwrap(), "hi")
        .await
        .unwrap_err();
    assert!(matches!(err, PeerError::NotConnected(_)), "{err}");
}

#[tokio::test]
async fn a_node_with_another_secret_is_refused_on_both_sides() {
    let mut a = node("a", SECRET).await;
    let mut c = node("c", OTHER_SECRET).await;

    // c dials a: a refuses at the first message, before sending a byte of its own.
    let err = c.node.connect(&a.addr.to_string()).await.unwrap_err();
    assert!(
        matches!(err, PeerError::Refused(Refusal::HandshakeFailed)),
        "{err}"
    );
    let seen = wait_for(&mut a.events, refused_with(Refusal::HandshakeFailed)).await;
    assert!(matches!(
        seen,
        PeerEvent::Refused {
            node: None,
            direction: Direction::In,
            ..
        }
    ));
    // c learnt no name: its own refusal has none either.
    let seen = wait_for(&mut c.events, refused_with(Refusal::HandshakeFailed)).await;
    assert!(matches!(
        seen,
        PeerEvent::Refused {
            node: None,
            direction: Direction::Out,
            ..
        }
    ));

    // a dials c: c refuses, a refuses.
    let err = a.node.connect(&c.addr.to_string()).await.unwrap_err();
    assert!(
        matches!(err, PeerError::Refused(Refusal::HandshakeFailed)),
        "{err}"
    );
    wait_for(&mut c.events, |e| {
        matches!(
            e,
            PeerEvent::Refused {
                direction: Direction::In,
                reason: Refusal::HandshakeFailed,
                node: None,
                ..
            }
        )
    })
    .await;
    assert!(a.node.peers().is_empty() && c.node.peers().is_empty());

    // What c sees of a on the wire is one 32-byte ephemeral key and a 16-byte tag: nothing that
    // names a or carries its static key.
    let mut raw = TcpStream::connect(a.addr).await.unwrap();
    write_frame(&mut raw, &[0x42; 48]).await;
    assert!(
        read_frame(&mut raw).await.is_none(),
        "a answered a bad first message"
    );
}

#[tokio::test]
async fn a_captured_handshake_replayed_is_refused_also_after_a_restart() {
    let a = node("a", SECRET).await;
    let pins: Arc<dyn PinStore> = Arc::new(MemoryPins::default());
    let mut b = node_with(config("b"), SECRET, None, pins.clone()).await;
    let (via, captured) = proxy(b.addr, Tamper::Nothing).await;
    a.node.connect(&via.to_string()).await.unwrap();
    let reply = a
        .node
        .send(&agent("x"), &"assistant@b".parse().unwrap(), "real")
        .await
        .unwrap();
    assert!(reply.contains("real"));
    let frames = captured.lock().unwrap().clone();
    let (msg1, msg3) = (frames[0].clone(), frames[1].clone());

    async fn replay(target: std::net::SocketAddr, msg1: &[u8], msg3: &[u8]) -> TcpStream {
        let mut raw = TcpStream::connect(target).await.unwrap();
        write_frame(&mut raw, msg1).await;
        // b answers message 1 with a fresh ephemeral key; the old message 3 cannot match it.
        let msg2 = read_frame(&mut raw).await;
        assert!(msg2.is_some(), "b answers a replayed first message");
        write_frame(&mut raw, msg3).await;
        raw
    }
    let mut raw = replay(b.addr, &msg1, &msg3).await;
    wait_for(&mut b.events, refused_with(Refusal::HandshakeFailed)).await;
    assert!(closed_by_peer(&mut raw).await);
    assert_eq!(b.node.peers().len(), 1, "only the real link");

    // Restart b (same key, same secret, same pins) and replay again.
    let identity = b.identity_b64.clone();
    b.node.shutdown().await;
    let mut b2 = node_with(config("b"), SECRET, Some(&identity), pins).await;
    let mut raw = replay(b2.addr, &msg1, &msg3).await;
    wait_for(&mut b2.events, refused_with(Refusal::HandshakeFailed)).await;
    assert!(closed_by_peer(&mut raw).await);
    assert!(b2.node.peers().is_empty());
    assert_eq!(b2.calls(), 0);
}

/// Links a to b through a tampering proxy, has a send two requests, and returns b's reason for
/// closing the link and how many requests b's agents ran.
async fn tampered(tamper: Tamper) -> (Refusal, usize, Vec<Result<String, PeerError>>) {
    let a = node("a", SECRET).await;
    let mut b = node("b", SECRET).await;
    let (via, _) = proxy(b.addr, tamper).await;
    a.node.connect(&via.to_string()).await.unwrap();
    let to = "assistant@b".parse().unwrap();
    let x = agent("x");
    let (one, two) = tokio::join!(
        a.node.send(&x, &to, "first"),
        a.node.send(&x, &to, "second"),
    );
    let reason = match wait_for(&mut b.events, |e| {
        matches!(e, PeerEvent::Disconnected { .. })
    })
    .await
    {
        PeerEvent::Disconnected { reason, .. } => reason,
        other => panic!("{other:?}"),
    };
    (reason, b.calls(), vec![one, two])
}

#[tokio::test]
async fn a_frame_with_one_flipped_bit_closes_the_link() {
    let (reason, calls, results) = tampered(Tamper::FlipBit).await;
    assert_eq!(reason, Refusal::FrameAuthentication);
    assert_eq!(calls, 0, "the tampered request must not run");
    assert!(results.iter().all(Result::is_err), "{results:?}");
}

#[tokio::test]
async fn a_replayed_frame_closes_the_link() {
    let (reason, calls, _) = tampered(Tamper::Replay).await;
    assert_eq!(reason, Refusal::FrameAuthentication);
    assert!(calls <= 1, "the replayed copy must not run: {calls} runs");
}

#[tokio::test]
async fn a_reordered_frame_closes_the_link() {
    let (reason, calls, results) = tampered(Tamper::Reorder).await;
    assert_eq!(reason, Refusal::FrameAuthentication);
    assert_eq!(calls, 0);
    assert!(results.iter().all(Result::is_err), "{results:?}");
}

#[tokio::test]
async fn the_untampered_proxy_passes_everything() {
    // The control for the three tests above: the same proxy, not tampering, changes nothing.
    let a = node("a", SECRET).await;
    let b = node("b", SECRET).await;
    let (via, _) = proxy(b.addr, Tamper::Nothing).await;
    a.node.connect(&via.to_string()).await.unwrap();
    let to = "assistant@b".parse().unwrap();
    let x = agent("x");
    let (one, two) = tokio::join!(
        a.node.send(&x, &to, "first"),
        a.node.send(&x, &to, "second"),
    );
    assert!(one.is_ok() && two.is_ok());
    assert_eq!(b.calls(), 2);
}

#[tokio::test]
async fn a_peer_claiming_another_nodes_identity_is_refused() {
    let a = node("a", SECRET).await;
    let mut b = node("b", SECRET).await;
    a.node.connect(&b.addr.to_string()).await.unwrap();

    // Mallory holds the shared secret but not a's key, and says she is "a".
    // (As the initiator she sends the last handshake message, so her side may think it got
    // through; b refuses it and closes the link at once.)
    let mut mallory = node("a", SECRET).await;
    let _ = mallory.node.connect(&b.addr.to_string()).await;
    let e = wait_for(&mut b.events, refused_with(Refusal::IdentityMismatch)).await;
    assert!(matches!(e, PeerEvent::Refused { node: Some(ref n), .. } if n.as_str() == "a"));
    let links = b.node.peers();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].key, Some(a.node.public_key().to_string()));
    let err = mallory
        .node
        .send(&agent("x"), &"assistant@b".parse().unwrap(), "as a")
        .await
        .unwrap_err();
    assert!(
        matches!(err, PeerError::NotConnected(_) | PeerError::Closed),
        "{err}"
    );

    // b dialing Mallory refuses her as the responder too, before revealing its own identity.
    let err = b.node.connect(&mallory.addr.to_string()).await.unwrap_err();
    assert!(
        matches!(err, PeerError::Refused(Refusal::IdentityMismatch)),
        "{err}"
    );
    wait_for(&mut mallory.events, refused_with(Refusal::HandshakeFailed)).await;

    // The real a still works.
    let reply = a
        .node
        .send(&agent("x"), &"assistant@b".parse().unwrap(), "still me")
        .await
        .unwrap();
    assert!(reply.contains("still me"));

    // A configured pin holds from the first contact on.
    let real = rampart_peer::NodeIdentity::generate().unwrap();
    let mut cfg = config("d");
    cfg.pins.insert("a".parse().unwrap(), real.public());
    let mut d = node_with(cfg, SECRET, None, Arc::new(MemoryPins::default())).await;
    let _ = a.node.connect(&d.addr.to_string()).await;
    wait_for(&mut d.events, refused_with(Refusal::IdentityMismatch)).await;
    assert!(d.node.peers().is_empty());
    assert_eq!(d.calls(), 0);
}

#[tokio::test]
async fn a_node_dialing_itself_or_a_reflection_is_refused() {
    let mut a = node("a", SECRET).await;
    let err = a.node.connect(&a.addr.to_string()).await.unwrap_err();
    assert!(
        matches!(err, PeerError::Refused(Refusal::SelfConnection)),
        "{err}"
    );
    wait_for(&mut a.events, refused_with(Refusal::SelfConnection)).await;
    assert!(a.node.peers().is_empty());
}

#[tokio::test]
async fn garbage_and_stalled_handshakes_are_dropped_without_affecting_other_links() {
    let a = node("a", SECRET).await;
    let mut cfg = config("b");
    cfg.limits.handshake_timeout = Duration::from_millis(300);
    let mut b = node_with(cfg, SECRET, None, Arc::new(MemoryPins::default())).await;
    a.node.connect(&b.addr.to_string()).await.unwrap();

    // An oversized length prefix.
    let mut big = TcpStream::connect(b.addr).await.unwrap();
    big.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    wait_for(&mut b.events, refused_with(Refusal::Malformed)).await;
    assert!(closed_by_peer(&mut big).await);

    // A well-framed message of random bytes.
    let mut junk = TcpStream::connect(b.addr).await.unwrap();
    write_frame(&mut junk, &[0x5a; 200]).await;
    wait_for(&mut b.events, refused_with(Refusal::HandshakeFailed)).await;
    assert!(closed_by_peer(&mut junk).await);

    // One that says nothing, and one that stops halfway through a frame.
    let mut silent = TcpStream::connect(b.addr).await.unwrap();
    let mut half = TcpStream::connect(b.addr).await.unwrap();
    half.write_all(&[0, 48, 1, 2, 3]).await.unwrap();
    // Meanwhile the real link carries on.
    let reply = a
        .node
        .send(
            &agent("x"),
            &"assistant@b".parse().unwrap(),
            "during the attack",
        )
        .await
        .unwrap();
    assert!(reply.contains("during the attack"));
    wait_for(&mut b.events, refused_with(Refusal::HandshakeTimeout)).await;
    wait_for(&mut b.events, refused_with(Refusal::HandshakeTimeout)).await;
    assert!(closed_by_peer(&mut silent).await);
    assert!(closed_by_peer(&mut half).await);

    let reply = a
        .node
        .send(&agent("x"), &"assistant@b".parse().unwrap(), "after")
        .await
        .unwrap();
    assert!(reply.contains("after"));
    assert_eq!(b.node.peers().len(), 1);
}

#[tokio::test]
async fn a_configured_peer_is_dialed_and_redialed_after_it_restarts() {
    // b's port, found by binding and releasing it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cfg_a = config("a");
    cfg_a.peers = vec![addr.clone()];
    cfg_a.limits.backoff_initial = Duration::from_millis(50);
    cfg_a.limits.backoff_max = Duration::from_millis(400);
    // a starts first: its dials fail and back off.
    let mut a = node_with(cfg_a, SECRET, None, Arc::new(MemoryPins::default())).await;
    assert!(!a.node.peers()[0].connected);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut cfg_b = config("b");
    cfg_b.listen_addr = Some(addr.parse().unwrap());
    let b = node_with(cfg_b, SECRET, None, Arc::new(MemoryPins::default())).await;
    wait_for(&mut a.events, |e| matches!(e, PeerEvent::Connected { .. })).await;
    assert!(a.node.peers()[0].connected);

    // b goes away (an orderly close), a notices and lists the address as down.
    let identity = b.identity_b64.clone();
    b.node.shutdown().await;
    wait_for(&mut a.events, disconnected_with(Refusal::ClosedByPeer)).await;

    let mut cfg_b = config("b");
    cfg_b.listen_addr = Some(addr.parse().unwrap());
    let _b2 = node_with(
        cfg_b,
        SECRET,
        Some(&identity),
        Arc::new(MemoryPins::default()),
    )
    .await;
    wait_for(&mut a.events, |e| matches!(e, PeerEvent::Connected { .. })).await;
    let reply = a
        .node
        .send(&agent("x"), &"assistant@b".parse().unwrap(), "back")
        .await
        .unwrap();
    assert!(reply.contains("back"));
}

/// Regression: an established incoming link used to keep its handshake slot for its whole life,
/// so a few long-lived links (or one NAT's worth of honest nodes) locked every later node out.
#[tokio::test]
async fn established_links_free_their_handshake_slots() {
    let mut cfg = config("hub");
    cfg.limits.max_pending_per_ip = 1;
    cfg.limits.max_pending_handshakes = 2;
    let hub = node_with(cfg, SECRET, None, Arc::new(MemoryPins::default())).await;
    // Three nodes from the same address, one after another: each handshake ends before the
    // next begins, so each gets the one per-IP slot in turn.
    let mut spokes = Vec::new();
    for name in ["s1", "s2", "s3"] {
        let s = node(name, SECRET).await;
        assert_eq!(
            s.node
                .connect(&hub.addr.to_string())
                .await
                .unwrap()
                .as_str(),
            "hub"
        );
        spokes.push(s);
        // The dialer is done after its last handshake message; wait (bounded) until the hub has
        // registered the link too, which happens after it gives the slot back.
        let want = spokes.len();
        tokio::time::timeout(Duration::from_secs(10), async {
            while hub.node.peers().iter().filter(|p| p.connected).count() < want {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the hub registers each link");
    }
    // All three links are up at once, and each still carries messages.
    for (i, s) in spokes.iter().enumerate() {
        let reply = s
            .node
            .send(&agent("a"), &"assistant@hub".parse().unwrap(), "ping")
            .await
            .unwrap();
        assert!(reply.contains(&format!("from a@s{}", i + 1)), "{reply}");
    }
    assert_eq!(hub.node.peers().iter().filter(|p| p.connected).count(), 3);
}
