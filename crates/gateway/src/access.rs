//! Authorization: the one table of routes and the least role each needs (SPEC A1, A5).
//!
//! Adding a route means adding a row here; a route without a row is treated as needing an
//! authenticated caller with the owner role, so a forgotten row fails closed.

use http::Method;
use rampart_core::Role;

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No authentication: the named public allowlist.
    Public,
    /// An authenticated principal with at least this role.
    AtLeast(Role),
}

/// `(method, route template, access)`. The public routes are exactly the `Public` rows.
pub const ROUTES: &[(Method, &str, Access)] = &[
    (Method::GET, "/api/health", Access::Public),
    (
        Method::GET,
        "/api/health/detail",
        Access::AtLeast(Role::Admin),
    ),
    (Method::GET, "/api/agents", Access::AtLeast(Role::Viewer)),
    // Creating and deleting agents is the admin's (the seeds' table). Agents have no owner yet,
    // so the seeds' "user: create and manage own agents" is not offered: a user talks to agents.
    (Method::POST, "/api/agents", Access::AtLeast(Role::Admin)),
    (
        Method::DELETE,
        "/api/agents/{name}",
        Access::AtLeast(Role::Admin),
    ),
    (
        Method::POST,
        "/api/agents/{name}/message",
        Access::AtLeast(Role::User),
    ),
    (
        Method::GET,
        "/api/agents/{name}/ws",
        Access::AtLeast(Role::User),
    ),
    (
        Method::POST,
        "/v1/chat/completions",
        Access::AtLeast(Role::User),
    ),
    // The webhook trigger authenticates with its own token (SPEC N7), not the API key.
    (Method::POST, "/hooks/{agent}", Access::Public),
    (Method::GET, "/metrics", Access::AtLeast(Role::Admin)),
    (Method::GET, "/api/approvals", Access::AtLeast(Role::Admin)),
    (
        Method::POST,
        "/api/approvals/{id}",
        Access::AtLeast(Role::Admin),
    ),
    (Method::GET, "/api/audit", Access::AtLeast(Role::Admin)),
    (
        Method::GET,
        "/api/audit/verify",
        Access::AtLeast(Role::Admin),
    ),
    (Method::GET, "/api/peers", Access::AtLeast(Role::Admin)),
    // A pairing code lets a person talk to the agents on a channel (SPEC P2).
    (
        Method::POST,
        "/api/channels/{channel}/pairing-codes",
        Access::AtLeast(Role::Admin),
    ),
    // Users and global configuration are the owner's (SPEC A5, M2).
    (
        Method::POST,
        "/api/config/reload",
        Access::AtLeast(Role::Owner),
    ),
    (Method::GET, "/api/users", Access::AtLeast(Role::Owner)),
    (Method::GET, "/api/me", Access::AtLeast(Role::Viewer)),
    // The web chat page: static files with no secret in them; the key is pasted by the user.
    (Method::GET, "/chat", Access::Public),
    (Method::GET, "/chat/app.js", Access::Public),
    (Method::GET, "/chat/app.css", Access::Public),
];

/// The rule for a request. `matched` is the route template axum matched, `None` for unknown paths.
#[must_use]
pub fn rule(method: &Method, matched: Option<&str>) -> Access {
    let Some(path) = matched else {
        // Unknown path: authenticate first so anonymous probes can't map the API.
        return Access::AtLeast(Role::Viewer);
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map_or(Access::AtLeast(Role::Owner), |(_, _, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_health_is_public() {
        let public: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.2 == Access::Public)
            .map(|r| r.1)
            .collect();
        assert_eq!(
            public,
            [
                "/api/health",
                "/hooks/{agent}",
                "/chat",
                "/chat/app.js",
                "/chat/app.css"
            ]
        );
    }

    #[test]
    fn unknown_routes_fail_closed() {
        assert_eq!(rule(&Method::GET, None), Access::AtLeast(Role::Viewer));
        assert_eq!(
            rule(&Method::PUT, Some("/api/agents")),
            Access::AtLeast(Role::Owner)
        );
        assert_eq!(
            rule(&Method::POST, Some("/api/health")),
            Access::AtLeast(Role::Owner)
        );
    }
}
