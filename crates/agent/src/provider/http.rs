//! The HTTP client shared by the remote providers: timeouts, no redirects, capped bodies, and
//! error mapping that never carries a response body or a key.

use std::time::Duration;

use super::ProviderError;
use super::sse::{SseEvent, SseParser};

/// How long a provider may take to accept a TCP/TLS connection.
///
/// # Security
/// A provider endpoint that never answers must not hold a turn (and its session lock) forever.
pub const PROVIDER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default bound on one whole provider request, streaming included.
///
/// # Security
/// Same reason as [`PROVIDER_CONNECT_TIMEOUT`], for a peer that trickles bytes forever.
/// Configurable through `RuntimeOptions::provider_timeout`.
pub const PROVIDER_REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// The largest provider response accepted, in bytes (a JSON body, or a whole SSE stream).
///
/// # Security
/// Responses are untrusted input; real answers are kilobytes. Reading stops at this bound and the
/// turn fails with `TooLarge` instead of exhausting memory.
pub const MAX_PROVIDER_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Builds the client: rustls on `ring`, timeouts, and no redirects.
///
/// # Security
/// Redirects are never followed: a provider request carries the API key in a header (for
/// Anthropic a custom `x-api-key` header, which HTTP clients do not strip on cross-origin
/// redirects), so a redirect could hand the key to another host.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    // Idempotent: fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(PROVIDER_CONNECT_TIMEOUT)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| ProviderError::Transport("cannot build the HTTP client"))
}

/// Maps a transport error without its text (which can include the URL).
pub(crate) fn transport(e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout
    } else if e.is_connect() {
        ProviderError::Transport("cannot connect to the provider")
    } else if e.is_body() || e.is_decode() {
        ProviderError::Transport("the provider's response was cut off")
    } else {
        ProviderError::Transport("request to the provider failed")
    }
}

/// Sends the request and refuses non-success statuses (the body is dropped unread).
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    let resp = req.send().await.map_err(|e| transport(&e))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(ProviderError::Redirect(status.as_u16()));
    }
    if !status.is_success() {
        return Err(ProviderError::Status(status.as_u16()));
    }
    Ok(resp)
}

/// Reads a whole body, at most [`MAX_PROVIDER_RESPONSE_BYTES`].
pub(crate) async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_PROVIDER_RESPONSE_BYTES as u64)
    {
        return Err(ProviderError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e))? {
        if body.len() + chunk.len() > MAX_PROVIDER_RESPONSE_BYTES {
            return Err(ProviderError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads an SSE body event by event, at most [`MAX_PROVIDER_RESPONSE_BYTES`] in total.
pub(crate) struct SseStream {
    resp: reqwest::Response,
    parser: SseParser,
    pending: std::collections::VecDeque<SseEvent>,
    total: usize,
    done: bool,
}

impl SseStream {
    pub(crate) fn new(resp: reqwest::Response) -> Self {
        Self {
            resp,
            parser: SseParser::new(),
            pending: std::collections::VecDeque::new(),
            total: 0,
            done: false,
        }
    }

    /// The next event, or `None` at the end of the stream.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>, ProviderError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.done {
                return Ok(None);
            }
            match self.resp.chunk().await.map_err(|e| transport(&e))? {
                Some(chunk) => {
                    self.total += chunk.len();
                    if self.total > MAX_PROVIDER_RESPONSE_BYTES {
                        return Err(ProviderError::TooLarge);
                    }
                    self.pending.extend(self.parser.push(&chunk)?);
                }
                None => {
                    self.done = true;
                    self.pending.extend(self.parser.finish());
                }
            }
        }
    }
}
