//! The error type of this crate.

use std::net::IpAddr;

use crate::Classification;

/// Why a fetch was refused or failed. Messages name the URL's host and the reason, never
/// internal details, so they are safe to return to the model (CONTRACT: status `error` with the
/// reason).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The URL did not parse, or was longer than [`MAX_URL_LEN`](crate::MAX_URL_LEN).
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// Only `http` and `https` are fetched.
    #[error("scheme {0:?} is not allowed; only http and https")]
    SchemeNotAllowed(String),
    /// URLs with a user name or password are refused (a classic way to disguise the real host).
    #[error("URLs with credentials (user@host) are refused")]
    CredentialsInUrl,
    /// The host is not in `allowed_hosts` or the agent's `network` list.
    #[error("host {0:?} is not in the allowed hosts")]
    HostNotAllowed(String),
    /// The host name itself is refused (a metadata service name, `localhost`, `*.local`, …).
    #[error("host {host:?} is refused: {reason}")]
    BlockedHost {
        /// The host as parsed.
        host: String,
        /// Why.
        reason: &'static str,
    },
    /// The host is, or resolved to, an address the policy refuses.
    #[error("host {host:?} resolves to {addr}, which is refused ({:?}{})", class.range,
        class.embedded.map(|(via, v4)| format!(" via {via:?} {v4}")).unwrap_or_default())]
    BlockedAddress {
        /// The host as parsed.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// What the classifier said about it.
        class: Classification,
    },
    /// The name did not resolve, or resolved to nothing.
    #[error("could not resolve {host:?}: {detail}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's message.
        detail: String,
    },
    /// More redirects than `max_redirects`.
    #[error("too many redirects (limit {0})")]
    TooManyRedirects(u32),
    /// A redirect without a usable `Location` header.
    #[error("redirect without a valid Location header")]
    BadRedirect,
    /// The whole fetch took longer than the time limit.
    #[error("the fetch timed out")]
    Timeout,
    /// The response is not text (images, archives, executables are not fetched).
    #[error("unsupported content type {0:?}; only text is fetched")]
    UnsupportedContent(String),
    /// The HTTP exchange failed (connection refused, TLS error, protocol error).
    #[error("request failed: {0}")]
    Http(#[source] reqwest::Error),
    /// A `[web.fetch]` or `network` entry could not be parsed.
    #[error("invalid web fetch configuration: {0}")]
    InvalidConfig(String),
}
