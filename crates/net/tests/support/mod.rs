//! Test support: canary HTTP servers on loopback that count every connection, and a scripted
//! resolver.

// Fixture helpers: a failed setup should abort the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rampart_net::{ResolveFuture, Resolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers a request path with a full HTTP response (head and body).
pub type Respond = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A server that counts connections (a connection is a hit even if no request follows).
pub struct Canary {
    pub port: u16,
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Canary {
    /// Binds 127.0.0.1 on a fresh port, and also `[::1]` on the same port when IPv6 exists.
    pub async fn start(respond: Respond) -> Self {
        let v4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = v4.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        serve(v4, Arc::clone(&hits), Arc::clone(&respond));
        if let Ok(v6) = TcpListener::bind(("::1", addr.port())).await {
            serve(v6, Arc::clone(&hits), respond);
        }
        Self {
            port: addr.port(),
            addr,
            hits,
        }
    }

    /// Binds a specific address (e.g. 127.0.0.2 on another canary's port).
    pub async fn start_on(bind: SocketAddr, respond: Respond) -> Self {
        let l = TcpListener::bind(bind).await.unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        serve(l, Arc::clone(&hits), respond);
        Self {
            port: addr.port(),
            addr,
            hits,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(listener: TcpListener, hits: Arc<AtomicUsize>, respond: Respond) {
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            hits.fetch_add(1, Ordering::SeqCst);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let response = respond(&path);
                if response.is_empty() {
                    // Stall: never answer (for timeout tests).
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    return;
                }
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
}

pub fn ok(content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

pub fn redirect(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

pub fn page(body: &'static str) -> Respond {
    Arc::new(move |_| ok("text/html; charset=utf-8", body))
}

/// A resolver with a fixed table, answering each name's entries in turn (the last one
/// repeats), and counting calls.
#[derive(Debug, Default)]
pub struct ScriptedResolver {
    table: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
    pub calls: AtomicUsize,
}

impl ScriptedResolver {
    pub fn new(entries: &[(&str, &[&str])]) -> Self {
        let r = Self::default();
        for (name, addrs) in entries {
            r.answer(name, addrs);
        }
        r
    }

    /// Adds one more answer for `name`.
    pub fn answer(&self, name: &str, addrs: &[&str]) {
        let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
        self.table
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .push(addrs);
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Resolver for ScriptedResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut table = self.table.lock().unwrap();
        let answer = match table.get_mut(host) {
            Some(list) if list.len() > 1 => Ok(list.remove(0)),
            Some(list) => Ok(list[0].clone()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
        };
        Box::pin(async move { answer })
    }
}
