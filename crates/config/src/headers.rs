//! `[security.headers]`: the headers put on every response (SPEC N4).

use http::HeaderValue;

/// The security headers, already validated as HTTP header values.
///
/// Defaults are strict: a CSP that allows only same-origin scripts, framing denied, MIME sniffing
/// off, HSTS for a year, and a referrer policy that never sends paths cross-origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityHeaders {
    /// `Content-Security-Policy`.
    pub csp: HeaderValue,
    /// `X-Frame-Options`.
    pub x_frame_options: HeaderValue,
    /// `X-Content-Type-Options`.
    pub x_content_type_options: HeaderValue,
    /// `Strict-Transport-Security`.
    pub strict_transport_security: HeaderValue,
    /// `Referrer-Policy`.
    pub referrer_policy: HeaderValue,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self {
            csp: HeaderValue::from_static(RawHeaders::CSP),
            x_frame_options: HeaderValue::from_static("DENY"),
            x_content_type_options: HeaderValue::from_static("nosniff"),
            strict_transport_security: HeaderValue::from_static(
                "max-age=31536000; includeSubDomains",
            ),
            referrer_policy: HeaderValue::from_static("strict-origin-when-cross-origin"),
        }
    }
}

/// The raw `[security.headers]` table.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaders {
    csp: Option<String>,
    x_frame_options: Option<String>,
    x_content_type_options: Option<String>,
    strict_transport_security: Option<String>,
    referrer_policy: Option<String>,
}

impl RawHeaders {
    const CSP: &'static str = "default-src 'self'; script-src 'self'";

    /// Checks every value is a legal header value (no CR/LF: header injection) and not empty.
    pub(crate) fn into_headers(self) -> Result<SecurityHeaders, (&'static str, String)> {
        let d = SecurityHeaders::default();
        let pick = |key: &'static str, v: Option<String>, default: HeaderValue| match v {
            None => Ok(default),
            Some(s) if s.trim().is_empty() => Err((key, "must not be empty".to_owned())),
            // The default spelled out (as the config template does) is the default itself: a
            // static value, which a response copies for free, where a value parsed from the file
            // is reference-counted and every response on every core would write that count.
            Some(s) if s.as_bytes() == default.as_bytes() => Ok(default),
            Some(s) => HeaderValue::from_str(&s).map_err(|_| {
                (
                    key,
                    "is not a valid HTTP header value (control characters?)".to_owned(),
                )
            }),
        };
        Ok(SecurityHeaders {
            csp: pick("csp", self.csp, d.csp)?,
            x_frame_options: pick("x_frame_options", self.x_frame_options, d.x_frame_options)?,
            x_content_type_options: pick(
                "x_content_type_options",
                self.x_content_type_options,
                d.x_content_type_options,
            )?,
            strict_transport_security: pick(
                "strict_transport_security",
                self.strict_transport_security,
                d.strict_transport_security,
            )?,
            referrer_policy: pick("referrer_policy", self.referrer_policy, d.referrer_policy)?,
        })
    }
}
