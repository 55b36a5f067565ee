//! # rampart-net
//!
//! The only HTTP client Rampart points at untrusted destinations (`web_fetch`, SPEC T2). A URL
//! chosen by a model — or by a web page the model read — must not be able to reach the machine
//! Rampart runs on, its private network, or a cloud metadata service.
//!
//! ## How a fetch is checked
//! 1. [`FetchPolicy::preflight`] parses the URL with the WHATWG parser of the `url` crate, which
//!    is what browsers do: `http://2130706433/`, `http://0x7f.1/`, `http://0177.0.0.1/`,
//!    `http://127.0.0.1./` and `http://①②⑦.0.0.1/` all come out as the address `127.0.0.1`,
//!    so there is one form to judge. Only `http`/`https`; URLs with credentials
//!    (`http://example.com@127.0.0.1/`) are refused; `allowed_hosts` and the agent's `network`
//!    list are applied; metadata and local-only names are refused by name.
//! 2. The host is resolved **once** (through a [`Resolver`]) and **every** answer is classified
//!    ([`classify`]); one refused answer refuses the request.
//! 3. The connection is made by a fresh client whose only DNS answer is that checked list: there
//!    is no second lookup for a rebinding attacker to win.
//! 4. Redirects are not followed by the HTTP client; each `Location` goes back to step 1, from
//!    scratch, and counts against `max_redirects`. An `allow_private` exception belongs to one
//!    exact `host:port`, so a redirect from an allowed intranet service to another private
//!    address is refused.
//! 5. The body is read up to a size limit, within a time limit; HTML is reduced to text
//!    ([`html_to_text`]) and the text capped (SPEC T6).
//!
//! ## Trust assumptions
//! URLs, DNS answers and responses are hostile. The configuration is trusted. The system
//! resolver is trusted to return what the DNS says (but not that the DNS says the same thing
//! twice). See `docs/tools.md` for what this does and doesn't stop.
//!
//! ```
//! use rampart_net::{FetchConfig, FetchLimits, FetchPolicy, NetError};
//!
//! let policy = FetchPolicy::new(&FetchConfig::default(), &[], FetchLimits::default()).unwrap();
//! for url in ["http://169.254.169.254/latest/meta-data/", "http://0x7f.1/", "http://[::ffff:10.0.0.1]/",
//!             "file:///etc/passwd", "http://metadata.google.internal./"] {
//!     assert!(policy.preflight(url).is_err(), "{url}");
//! }
//! assert!(policy.preflight("https://example.com/").is_ok());
//! ```

#![forbid(unsafe_code)]

mod classify;
mod error;
mod fetch;
mod html;
mod policy;

pub use classify::{
    Classification, Embedding, METADATA_HOSTS, METADATA_IPV4, METADATA_IPV6, Range, classify,
    classify_v4, classify_v6, is_local_name, is_metadata_host,
};
pub use error::NetError;
pub use fetch::{
    FetchResponse, Fetcher, MAX_PINNED_ADDRS, ResolveFuture, Resolver, SystemResolver,
    ensure_crypto_provider,
};
pub use html::{cap_text, html_to_text};
pub use policy::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TEXT_CHARS, DEFAULT_TIMEOUT,
    FetchConfig, FetchLimits, FetchPolicy, MAX_REDIRECTS_CEILING, MAX_URL_LEN, Target, TargetHost,
};
