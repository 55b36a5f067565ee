//! A link once authenticated: admitting it into the table, its reader and writer tasks, and
//! the requests and replies that cross it.

use super::*;

/// The most outgoing messages queued on one link before senders wait.
const LINK_QUEUE: usize = 64;

impl PeerNode {
    /// Admits an authenticated link into the table (replacing an older one of the same node and
    /// direction) and starts it. `None` when the link limit is reached.
    pub(super) async fn register(
        self: &Arc<Self>,
        est: Established,
        addr: SocketAddr,
        dialed: Option<String>,
        direction: Direction,
        reader: FrameReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
    ) -> Option<oneshot::Receiver<()>> {
        let (tx, rx) = mpsc::channel(LINK_QUEUE);
        let link = Link {
            id: self.next_link.fetch_add(1, Ordering::Relaxed),
            node: est.node.clone(),
            key: est.key,
            addr,
            dialed,
            direction,
            last_seen: Arc::new(AtomicI64::new(now_unix())),
            tx,
            pending: Arc::new(Mutex::new(HashMap::new())),
            close: Arc::new(Notify::new()),
        };
        let admitted = {
            let mut links = lock(&self.links);
            let older = links
                .values()
                .find(|l| l.node == link.node && l.direction == direction);
            if let Some(old) = older {
                old.close.notify_one();
            }
            let ok = older.is_some() || links.len() < self.cfg.limits.max_links;
            if ok {
                links.insert(link.id, link.clone());
            }
            ok
        };
        if !admitted {
            self.refused(
                Some(&est.node),
                addr,
                direction,
                Refusal::TooManyConnections,
            )
            .await;
            return None;
        }
        tracing::info!(node = %link.node, %addr, direction = direction.as_str(), "peer connected");
        let _ = self.events.send(PeerEvent::Connected {
            node: link.node.clone(),
            addr,
            direction,
        });
        self.audit_record(
            Record::new(Event::PeerConnection {
                node: link.node.to_string(),
                addr: addr.to_string(),
                direction: direction.as_str().to_owned(),
            })
            .actor(Actor::Peer(link.node.to_string())),
        )
        .await;
        let (done_tx, done_rx) = oneshot::channel();
        let node = Arc::clone(self);
        tokio::spawn(async move {
            node.run_link(link, reader, writer, est.sender, est.receiver, rx)
                .await;
            let _ = done_tx.send(());
        });
        Some(done_rx)
    }

    /// Runs an authenticated link until it closes, then removes it and fails what waited on it.
    async fn run_link(
        self: Arc<Self>,
        link: Link,
        mut reader: FrameReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
        sealer: Sealer,
        mut opener: Opener,
        rx: mpsc::Receiver<Body>,
    ) {
        reader.set_max(MAX_FRAME_BYTES);
        let keepalive = self.cfg.limits.keepalive;
        let writer_task = tokio::spawn(write_loop(writer, sealer, rx, keepalive));
        let inflight = Arc::new(Semaphore::new(self.cfg.limits.max_inflight_per_link));
        let mut stop = self.shutdown.subscribe();
        let reason = loop {
            if *stop.borrow() {
                break Refusal::ClosedLocally;
            }
            let next = tokio::select! {
                r = tokio::time::timeout(self.cfg.limits.idle_timeout, reader.next()) => r,
                () = link.close.notified() => break Refusal::ClosedLocally,
                _ = stop.changed() => break Refusal::ClosedLocally,
            };
            let frame = match next {
                Err(_) => break Refusal::Idle,
                Ok(Ok(Some(f))) => f,
                Ok(Ok(None) | Err(PeerError::Io(_))) => break Refusal::Truncated,
                Ok(Err(_)) => break Refusal::BadFrame,
            };
            let plain = match opener.open(&frame) {
                Ok(p) => p,
                Err(r) => break r,
            };
            link.last_seen.store(now_unix(), Ordering::Relaxed);
            let Ok(body) = Body::decode(&plain) else {
                break Refusal::BadFrame;
            };
            match body {
                Body::Request { id, from, to, text } => {
                    self.on_request(&link, &inflight, id, &from, &to, text);
                }
                Body::Reply { id, text } => complete(&link, id, Ok(text)),
                Body::Refused { id, code, message } => {
                    complete(&link, id, Err(PeerError::Remote { code, message }));
                }
                Body::Ping => {
                    let _ = link.tx.try_send(Body::Pong);
                }
                Body::Pong => {}
                Body::Close => break Refusal::ClosedByPeer,
            }
        };
        lock(&self.links).remove(&link.id);
        if reason == Refusal::ClosedLocally {
            // An orderly close tells the peer this was no truncation.
            let _ = tokio::time::timeout(Duration::from_secs(1), link.tx.send(Body::Close)).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), writer_task).await;
        } else {
            writer_task.abort();
        }
        for (_, waiter) in lock(&link.pending).drain() {
            let _ = waiter.send(Err(PeerError::Closed));
        }
        if let Some(dialed) = &link.dialed
            && let Some(s) = lock(&self.dialers).get_mut(dialed)
        {
            s.last_seen = Some(link.last_seen.load(Ordering::Relaxed));
        }
        tracing::info!(node = %link.node, %reason, "peer link closed");
        let _ = self.events.send(PeerEvent::Disconnected {
            node: link.node.clone(),
            direction: link.direction,
            reason: reason.clone(),
        });
        let outcome = match reason {
            Refusal::ClosedByPeer | Refusal::ClosedLocally => Outcome::Ok,
            Refusal::FrameAuthentication | Refusal::BadFrame => Outcome::Denied,
            _ => Outcome::Error,
        };
        self.audit_record(
            Record::new(Event::PeerDisconnected {
                node: link.node.to_string(),
                addr: link.addr.to_string(),
                direction: link.direction.as_str().to_owned(),
                reason: reason.to_string(),
            })
            .actor(Actor::Peer(link.node.to_string()))
            .outcome(outcome),
        )
        .await;
    }

    /// Starts a request from the peer: bounded per link, run by the handler, answered on the
    /// link, audited.
    fn on_request(
        self: &Arc<Self>,
        link: &Link,
        inflight: &Arc<Semaphore>,
        id: u64,
        from: &str,
        to: &str,
        text: String,
    ) {
        let refuse = |code: &str, message: &str| {
            let _ = link.tx.try_send(Body::Refused {
                id,
                code: code.to_owned(),
                message: message.to_owned(),
            });
        };
        let Ok(permit) = Arc::clone(inflight).try_acquire_owned() else {
            refuse("busy", "too many requests in flight on this link");
            return;
        };
        let (Ok(from_agent), Ok(to_agent)) = (from.parse::<AgentName>(), to.parse::<AgentName>())
        else {
            refuse("invalid_input", "`from` and `to` must be agent names");
            return;
        };
        let Some(handler) = self.handler.get().cloned() else {
            refuse("unavailable", "this node is not serving requests");
            return;
        };
        let request = InboundRequest {
            from_node: link.node.clone(),
            from_key: link.key,
            from_agent,
            to_agent,
            text,
            role: self.cfg.peer_role,
        };
        let node = Arc::clone(self);
        let tx = link.tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let from = format!("{}@{}", request.from_agent, request.from_node);
            let to = format!("{}@{}", request.to_agent, node.cfg.node_name);
            let agent = request.to_agent.clone();
            let actor = Actor::Peer(request.from_node.to_string());
            let result = handler.handle(request).await;
            let outcome = if result.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Denied
            };
            node.audit_record(
                Record::new(Event::PeerMessage {
                    from,
                    to,
                    direction: "in".to_owned(),
                })
                .agent(agent)
                .actor(actor)
                .outcome(outcome),
            )
            .await;
            let body = match result {
                Ok(text) => reply_that_fits(id, &text),
                Err(InboundRefusal { code, message }) => Body::Refused {
                    id,
                    code: truncate(&code, 64).to_owned(),
                    message: truncate(&message, 1024).to_owned(),
                },
            };
            let _ = tx.send(body).await;
        });
    }
}

fn complete(link: &Link, id: u64, result: Result<String, PeerError>) {
    if let Some(waiter) = lock(&link.pending).remove(&id) {
        let _ = waiter.send(result);
    }
}

/// The reply, its text cut (marked) until its encoding fits one frame.
fn reply_that_fits(id: u64, text: &str) -> Body {
    let mut max = MAX_PEER_TEXT_BYTES;
    loop {
        let cut = truncate(text, max);
        let text = if cut.len() < text.len() {
            format!("{cut}\n[reply truncated]")
        } else {
            cut.to_owned()
        };
        let body = Body::Reply { id, text };
        if body.encode().is_ok() || max == 0 {
            return body;
        }
        max /= 2;
    }
}

/// Seals and writes queued messages; pings when idle.
async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut sealer: Sealer,
    mut rx: mpsc::Receiver<Body>,
    keepalive: Duration,
) {
    use tokio::io::AsyncWriteExt as _;
    loop {
        let body = tokio::select! {
            b = rx.recv() => b,
            () = tokio::time::sleep(keepalive) => Some(Body::Ping),
        };
        let Some(body) = body else { break };
        let close = body == Body::Close;
        let Ok(frame) = body.encode().and_then(|b| sealer.seal(&b)) else {
            break;
        };
        if write_frame(&mut writer, &frame).await.is_err() || close {
            break;
        }
    }
    let _ = writer.shutdown().await;
}
