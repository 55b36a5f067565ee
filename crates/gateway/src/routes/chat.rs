//! The web chat page (`GET /chat`, `/chat/app.js`, `/chat/app.css`): static files compiled into
//! the binary. The page holds no secret: the user pastes a key, which stays in the page's memory
//! and goes to `GET /api/me` (Authorization header) and `GET /api/agents/{name}/ws?token=…`.
//!
//! The page's Content-Security-Policy is [`CHAT_CSP`], stricter than the global one: no inline
//! script or style, nothing from another origin, connections only back to this gateway (CSP 3
//! `'self'` covers `ws:`/`wss:` to the same host), no framing, no form posts, no `<base>`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

/// The CSP of the chat page and its assets.
///
/// # Security
/// A reply from the model is untrusted text. The page only ever sets it with `textContent`, and
/// this policy is the second wall: even markup that got into the DOM could run no script, load
/// nothing and send nothing anywhere but this gateway.
pub const CHAT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../../assets/chat/index.html");
const APP_JS: &str = include_str!("../../assets/chat/app.js");
const APP_CSS: &str = include_str!("../../assets/chat/app.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CHAT_CSP),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /chat`.
pub(crate) async fn page() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

/// `GET /chat/app.js`.
pub(crate) async fn script() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

/// `GET /chat/app.css`.
pub(crate) async fn style() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_style_and_no_secret() {
        let html = INDEX_HTML.to_ascii_lowercase();
        assert!(!html.contains("<script>"), "no inline script");
        assert!(html.contains("<script src=\"/chat/app.js\""));
        assert!(!html.contains("<style"), "no inline style");
        assert!(!html.contains("style="), "no style attributes");
        for handler in [
            "onclick=",
            "onload=",
            "onsubmit=",
            "onerror=",
            "javascript:",
        ] {
            assert!(
                !html.contains(handler),
                "no inline event handlers: {handler}"
            );
        }
        assert!(
            !APP_JS.contains("innerHTML"),
            "replies are set as text only"
        );
        assert!(!APP_JS.contains("localStorage"), "the key is never stored");
        for d in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
        ] {
            assert!(CHAT_CSP.contains(d), "{d}");
        }
        assert!(!CHAT_CSP.contains("unsafe"));
    }
}
