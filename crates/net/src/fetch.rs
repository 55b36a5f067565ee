//! [`Fetcher`]: resolve once, classify every address, connect only to a checked one, follow
//! redirects by hand with every hop checked from scratch.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Once};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LOCATION};

use crate::NetError;
use crate::classify::normalise_name;
use crate::html::{cap_text, html_to_text};
use crate::policy::{FetchLimits, FetchPolicy, Target, TargetHost};

/// Most resolved addresses handed to the connector (all of them are classified first).
///
/// # Security
/// Bounds connection attempts per hop when a name resolves to a long list.
pub const MAX_PINNED_ADDRS: usize = 16;

/// Bytes sniffed for NUL when a response has no `Content-Type`.
const SNIFF_BYTES: usize = 1024;

const USER_AGENT: &str = concat!("Rampart-web_fetch/", env!("CARGO_PKG_VERSION"));

/// The future a [`Resolver`] returns.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Name resolution, behind a trait so tests (and deployments with their own DNS) can plug in.
/// The fetcher calls it exactly once per hop; whatever it answers is classified and the
/// connection is pinned to those answers, so a second, different answer can never be used.
pub trait Resolver: Send + Sync + fmt::Debug {
    /// Resolves a host name (lower-case, IDNA-encoded, as it appears in the URL).
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a>;
}

/// The system resolver, through `tokio::net::lookup_host`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fetched page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// The final URL, after redirects.
    pub url: String,
    /// The final HTTP status.
    pub status: u16,
    /// The final `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body as text (HTML reduced to text), at most `max_text_chars` characters. It is
    /// untrusted content: whoever wraps this for the model must mark it so.
    pub text: String,
    /// True when the body or the text was cut at a limit.
    pub truncated: bool,
    /// Each redirect target followed, in order.
    pub redirects: Vec<String>,
    /// The address actually connected to for the final response.
    pub remote_addr: Option<SocketAddr>,
}

/// The SSRF-safe fetch client. Cheap to clone; one per agent (its policy holds the agent's
/// `network` list).
#[derive(Debug, Clone)]
pub struct Fetcher {
    policy: Arc<FetchPolicy>,
    resolver: Arc<dyn Resolver>,
}

impl Fetcher {
    /// A fetcher using the system resolver.
    #[must_use]
    pub fn new(policy: FetchPolicy) -> Self {
        Self::with_resolver(policy, Arc::new(SystemResolver))
    }

    /// A fetcher using `resolver` for every name.
    #[must_use]
    pub fn with_resolver(policy: FetchPolicy, resolver: Arc<dyn Resolver>) -> Self {
        Self {
            policy: Arc::new(policy),
            resolver,
        }
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Runs every check on `url` (including DNS) without connecting; returns the addresses a
    /// fetch would be pinned to.
    ///
    /// # Errors
    /// The [`NetError`] a fetch would fail with before connecting.
    pub async fn check(&self, url: &str) -> Result<Vec<SocketAddr>, NetError> {
        let target = self.policy.preflight(url)?;
        self.resolve_checked(&target).await
    }

    /// Fetches `url` (GET) within the policy and the limits.
    ///
    /// # Errors
    /// Any [`NetError`]: refused URL or address, too many redirects, timeout, non-text content,
    /// HTTP failure. A non-2xx status is not an error; it is in the response.
    pub async fn fetch(&self, url: &str) -> Result<FetchResponse, NetError> {
        self.fetch_with_headers(url, &HeaderMap::new()).await
    }

    /// Fetches `url` like [`Fetcher::fetch`], adding `headers` to every request that goes to
    /// the first URL's origin (scheme, host and port).
    ///
    /// # Security
    /// The headers may carry a credential (a plugin's API key, injected by the host): a
    /// redirect to any other origin gets none of them, so a redirect cannot carry the
    /// credential to a host it was not meant for. Mark credential values sensitive.
    ///
    /// # Errors
    /// As [`Fetcher::fetch`].
    pub async fn fetch_with_headers(
        &self,
        url: &str,
        headers: &HeaderMap,
    ) -> Result<FetchResponse, NetError> {
        ensure_crypto_provider();
        let limits = *self.policy.limits();
        tokio::time::timeout(limits.timeout, self.fetch_inner(url, headers))
            .await
            .map_err(|_| NetError::Timeout)?
    }

    async fn fetch_inner(&self, url: &str, headers: &HeaderMap) -> Result<FetchResponse, NetError> {
        let limits = *self.policy.limits();
        let mut target = self.policy.preflight(url)?;
        let origin = target.url.origin();
        let none = HeaderMap::new();
        let mut redirects = Vec::new();
        loop {
            let addrs = self.resolve_checked(&target).await?;
            let extra = if target.url.origin() == origin {
                headers
            } else {
                &none
            };
            let response = send(&target, &addrs, &limits, extra).await?;
            let location = response.headers().get(LOCATION);
            if response.status().is_redirection() && location.is_some() {
                if redirects.len() >= self.policy.max_redirects() as usize {
                    return Err(NetError::TooManyRedirects(self.policy.max_redirects()));
                }
                let next = location
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| target.url.join(l).ok())
                    .ok_or(NetError::BadRedirect)?;
                redirects.push(next.to_string());
                // From scratch: scheme, credentials, allowed hosts, names, exceptions, DNS.
                target = self.policy.preflight_url(next)?;
                continue;
            }
            return read_body(response, &target, redirects, &limits).await;
        }
    }

    /// Resolves once and classifies every answer; any refused answer refuses the hop.
    async fn resolve_checked(&self, target: &Target) -> Result<Vec<SocketAddr>, NetError> {
        let ips = match &target.host {
            TargetHost::Ip(ip) => vec![*ip],
            TargetHost::Name(name) => {
                self.resolver
                    .resolve(name)
                    .await
                    .map_err(|e| NetError::Resolve {
                        host: target.host_key().to_owned(),
                        detail: e.to_string(),
                    })?
            }
        };
        if ips.is_empty() {
            return Err(NetError::Resolve {
                host: target.host_key().to_owned(),
                detail: "no addresses".to_owned(),
            });
        }
        for ip in &ips {
            self.policy.check_addr(target, *ip)?;
        }
        Ok(ips
            .into_iter()
            .take(MAX_PINNED_ADDRS)
            .map(|ip| SocketAddr::new(ip, target.port))
            .collect())
    }
}

/// One request on a fresh client whose only DNS answer is the checked address list.
async fn send(
    target: &Target,
    addrs: &[SocketAddr],
    limits: &FetchLimits,
    extra: &HeaderMap,
) -> Result<reqwest::Response, NetError> {
    let pinned = Pinned {
        host: match &target.host {
            TargetHost::Name(name) => Some(normalise_name(name)),
            TargetHost::Ip(_) => None,
        },
        addrs: addrs.to_vec(),
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would make the proxy do the resolving and connecting.
        .no_proxy()
        .referer(false)
        .connect_timeout(limits.connect_timeout)
        .user_agent(USER_AGENT)
        .dns_resolver(Arc::new(pinned))
        .build()
        .map_err(NetError::Http)?;
    client
        .get(target.url.clone())
        .header(ACCEPT, "text/html, text/plain;q=0.9, */*;q=0.1")
        .headers(extra.clone())
        .send()
        .await
        .map_err(NetError::Http)
}

/// The connector's resolver: answers the one checked name with the checked addresses and
/// refuses every other name. Address-literal URLs never reach a resolver.
#[derive(Debug)]
struct Pinned {
    host: Option<String>,
    addrs: Vec<SocketAddr>,
}

impl reqwest::dns::Resolve for Pinned {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let ok = self.host.as_deref() == Some(normalise_name(name.as_str()).as_str());
        let addrs = self.addrs.clone();
        Box::pin(async move {
            if ok {
                Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
            } else {
                Err("name was not checked by the SSRF policy".into())
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
    Unknown,
}

fn content_kind(content_type: Option<&str>) -> Result<Kind, NetError> {
    let Some(ct) = content_type else {
        return Ok(Kind::Unknown);
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => Ok(Kind::Html),
        "" => Ok(Kind::Unknown),
        m if m.starts_with("text/")
            || m == "application/json"
            || m == "application/xml"
            || m == "application/javascript"
            || m.ends_with("+json")
            || m.ends_with("+xml") =>
        {
            Ok(Kind::Text)
        }
        _ => Err(NetError::UnsupportedContent(mime)),
    }
}

async fn read_body(
    mut response: reqwest::Response,
    target: &Target,
    redirects: Vec<String>,
    limits: &FetchLimits,
) -> Result<FetchResponse, NetError> {
    let status = response.status().as_u16();
    let remote_addr = response.remote_addr();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut kind = content_kind(content_type.as_deref())?;
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(NetError::Http)? {
        let room = limits.max_body_bytes - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if kind == Kind::Unknown {
        if body.iter().take(SNIFF_BYTES).any(|b| *b == 0) {
            return Err(NetError::UnsupportedContent("binary (sniffed)".to_owned()));
        }
        let head =
            String::from_utf8_lossy(&body[..body.len().min(SNIFF_BYTES)]).to_ascii_lowercase();
        kind = if head.contains("<html") || head.contains("<!doctype html") {
            Kind::Html
        } else {
            Kind::Text
        };
    }
    let raw = String::from_utf8_lossy(&body);
    let (text, cut) = match kind {
        Kind::Html => html_to_text(&raw, limits.max_text_chars),
        Kind::Text | Kind::Unknown => cap_text(&raw, limits.max_text_chars),
    };
    Ok(FetchResponse {
        url: target.url.to_string(),
        status,
        content_type,
        text,
        truncated: truncated || cut,
        redirects,
        remote_addr,
    })
}

/// Installs `ring` as rustls's process-wide crypto provider, once (reqwest is built without
/// one, to stay off aws-lc). If another part of the process installed one first, that stays.
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
