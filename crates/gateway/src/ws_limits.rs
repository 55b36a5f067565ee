//! WebSocket limits beyond frame and message sizes (SPEC N3, N6): the `Origin` allowlist, the
//! keep-alive timings, and sliding windows of messages per connection and per key.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderMap;

/// Messages a client may send in [`WS_WINDOW`], per connection and per authenticated key.
///
/// # Security
/// Each message runs the model; a socket must not be a way around the HTTP rate limit, and a new
/// socket must not reset the count (the per-key window).
pub const WS_MESSAGES_PER_WINDOW: usize = 30;
/// The sliding window of [`WS_MESSAGES_PER_WINDOW`].
pub const WS_WINDOW: Duration = Duration::from_secs(60);
/// How long one frame to the client may take to send before the socket is dropped.
///
/// # Security
/// A client that never reads fills the server's send buffer; without a bound the socket's loop
/// would wait in that send for ever, past its pings, a revocation and the shutdown, holding a
/// connection slot.
pub const WS_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings.
pub const WS_PING_INTERVAL: Duration = Duration::from_secs(30);
/// How long without a pong before the server closes the socket.
///
/// # Security
/// A half-open or silent client must not hold a connection (and its memory) forever.
pub const WS_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The most keys whose windows are remembered; idle ones are dropped first.
pub const MAX_WS_KEYS: usize = 4096;

/// A sliding window log: the instants of the accepted messages in the last [`WS_WINDOW`].
#[derive(Debug, Default)]
pub struct SlidingWindow {
    hits: VecDeque<Instant>,
}

impl SlidingWindow {
    /// Records a message at `now` if the window has room.
    pub fn try_hit(&mut self, now: Instant) -> bool {
        while self
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WS_WINDOW)
        {
            self.hits.pop_front();
        }
        if self.hits.len() >= WS_MESSAGES_PER_WINDOW {
            return false;
        }
        self.hits.push_back(now);
        true
    }

    fn idle(&self, now: Instant) -> bool {
        self.hits
            .back()
            .is_none_or(|t| now.duration_since(*t) >= WS_WINDOW)
    }
}

/// Windows per authenticated key, shared by every socket of that key.
#[derive(Debug, Default)]
pub struct KeyWindows {
    map: Mutex<HashMap<String, SlidingWindow>>,
}

impl KeyWindows {
    /// Records a message for `key` at `now` if its window has room.
    pub fn try_hit(&self, key: &str, now: Instant) -> bool {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_WS_KEYS && !map.contains_key(key) {
            map.retain(|_, w| !w.idle(now));
            if map.len() >= MAX_WS_KEYS {
                return false;
            }
        }
        map.entry(key.to_owned()).or_default().try_hit(now)
    }
}

/// Whether a WebSocket upgrade's `Origin` may connect. No `Origin` (a non-browser client, which
/// still needs the key) passes; `null` never does; otherwise the origin must be listed, or, with
/// an empty list, name the host the request was sent to (the gateway's own origin).
#[must_use]
pub fn origin_allowed(headers: &HeaderMap, allowlist: &[String]) -> bool {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if !allowlist.is_empty() {
        return allowlist.contains(&origin);
    }
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let mut w = SlidingWindow::default();
        let t0 = Instant::now();
        for i in 0..WS_MESSAGES_PER_WINDOW {
            assert!(w.try_hit(t0 + Duration::from_millis(i as u64)));
        }
        assert!(!w.try_hit(t0 + Duration::from_secs(59)));
        assert!(w.try_hit(t0 + WS_WINDOW + Duration::from_millis(1)));
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, "127.0.0.1:4200".parse().unwrap());
        assert!(origin_allowed(&h, &[]));
        h.insert(
            http::header::ORIGIN,
            "http://127.0.0.1:4200".parse().unwrap(),
        );
        assert!(origin_allowed(&h, &[]));
        h.insert(
            http::header::ORIGIN,
            "https://evil.example".parse().unwrap(),
        );
        assert!(!origin_allowed(&h, &[]));
        assert!(origin_allowed(&h, &["https://evil.example".to_owned()]));
        h.insert(http::header::ORIGIN, "null".parse().unwrap());
        assert!(!origin_allowed(&h, &[]));
    }
}
