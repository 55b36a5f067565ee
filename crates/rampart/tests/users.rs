//! Users, roles and reload through the real binary (SPEC A5, M2): each role against each route
//! class, and a user disabled by a reload refused at once, on HTTP and on an open WebSocket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use argon2::PasswordHasher as _;
use futures_util::{SinkExt as _, StreamExt as _};
use rampart_testkit::{FakeLlm, FakeReply};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::*;

/// argon2id at a test cost (m = 8 KiB, t = 1): these tests are about roles, not hashing. That
/// production-cost hashes verify is shown by the `prod` user, whose hash `rampart keygen --hash`
/// made at the default cost.
fn cheap_hash(key: &str) -> String {
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = argon2::password_hash::SaltString::encode_b64(b"test-salt-16byte").unwrap();
    a.hash_password(key.as_bytes(), &salt).unwrap().to_string()
}

fn user(name: &str, role: &str, key: &str, enabled: bool) -> String {
    format!(
        "[[users]]\nname = \"{name}\"\nrole = \"{role}\"\nenabled = {enabled}\napi_key_hash = \"{}\"\n",
        cheap_hash(key)
    )
}

/// Rewrites config.toml the way `make_home` writes it, with `users` in place of the extra text.
fn write_config(home: &Path, llm_base: &str, users: &str) {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "api_key = \"vault:api_key\"\napi_listen = \"127.0.0.1:0\"\n\
             api_rate_limit = 1000\napi_rate_burst = 1000\n\
             [providers.default]\nkind = \"openai\"\nbase_url = \"{llm_base}\"\n{users}"
        ),
    )
    .unwrap();
}

/// `rampart keygen --hash`: the key and its `api_key_hash = "…"` line.
fn keygen_hash(home: &Path) -> (String, String) {
    let out = rampart(home)
        .args(["keygen", "--hash"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let key = lines.next().unwrap().to_owned();
    let hash_line = lines.next().unwrap().to_owned();
    assert!(hash_line.starts_with("api_key_hash = \"$argon2id$v=19$m=19456,t=2,p=1$"));
    (key, hash_line)
}

async fn status(req: reqwest::RequestBuilder) -> u16 {
    send(req).await.0
}

#[tokio::test]
async fn each_role_gets_exactly_its_route_classes() {
    let llm = FakeLlm::start((0..8).map(|_| FakeReply::text("ok")).collect()).await;
    let home = make_home(&llm.base_url(), "");
    let (prod_key, prod_hash_line) = keygen_hash(home.path());
    let users = format!(
        "{}{}{}{}[[users]]\nname = \"prod\"\nrole = \"viewer\"\n{prod_hash_line}\n",
        user("olivia", "owner", "owner-key", true),
        user("adam", "admin", "admin-key", true),
        user("uma", "user", "user-key", true),
        user("vic", "viewer", "viewer-key", true),
    );
    write_config(home.path(), &llm.base_url(), &users);
    let gw = start(home.path());
    let http = http();

    // Who is who, including the production-cost hash and the legacy api_key as the owner.
    for (key, name, role) in [
        ("owner-key", "olivia", "owner"),
        ("admin-key", "adam", "admin"),
        ("user-key", "uma", "user"),
        ("viewer-key", "vic", "viewer"),
        (prod_key.as_str(), "prod", "viewer"),
        (home.key.as_str(), "api_key", "owner"),
    ] {
        let (s, _, v) = send(http.get(gw.url("/api/me")).bearer_auth(key)).await;
        assert_eq!(s, 200, "{name}: {v}");
        assert_eq!(
            (v["name"].as_str(), v["role"].as_str()),
            (Some(name), Some(role))
        );
    }
    assert_eq!(
        status(http.get(gw.url("/api/me")).bearer_auth("owner-keyx")).await,
        401
    );

    let msg = json!({"message": "hello"});
    let manifest = |name: &str| {
        format!(
            r#"{{"name":"{name}","model":"default/gpt-test","capabilities":{{"tools":["clock"]}}}}"#
        )
    };
    // (key, expected status) for each route class; 403 is the role refusal.
    let keys = ["viewer-key", "user-key", "admin-key", "owner-key"];
    let expect = |route: &str, statuses: [u16; 4]| (route.to_owned(), statuses);
    let table = [
        expect("GET /api/agents", [200, 200, 200, 200]),
        expect("POST /api/agents/assistant/message", [403, 200, 200, 200]),
        expect("GET /api/agents/assistant/ws", [403, 0, 0, 0]),
        expect("POST /api/agents", [403, 403, 201, 201]),
        expect("DELETE /api/agents/{new}", [403, 403, 200, 200]),
        expect("GET /api/audit", [403, 403, 200, 200]),
        expect("GET /api/approvals", [403, 403, 200, 200]),
        expect("GET /metrics", [403, 403, 200, 200]),
        expect("GET /api/health/detail", [403, 403, 200, 200]),
        expect("GET /api/users", [403, 403, 403, 200]),
        expect("POST /api/config/reload", [403, 403, 403, 200]),
    ];
    for (route, statuses) in table {
        for (i, (key, want)) in keys.iter().zip(statuses).enumerate() {
            let before = llm.requests().len();
            let got = match route.as_str() {
                "GET /api/agents" => status(http.get(gw.url("/api/agents")).bearer_auth(key)).await,
                "POST /api/agents/assistant/message" => {
                    status(
                        http.post(gw.url("/api/agents/assistant/message"))
                            .bearer_auth(key)
                            .json(&msg),
                    )
                    .await
                }
                "GET /api/agents/assistant/ws" => {
                    let url = format!("ws://{}/api/agents/assistant/ws?token={key}", gw.addr);
                    match tokio_tungstenite::connect_async(url.as_str()).await {
                        Ok(_) => 0,
                        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                        Err(e) => panic!("{e}"),
                    }
                }
                "POST /api/agents" => {
                    status(
                        http.post(gw.url("/api/agents"))
                            .bearer_auth(key)
                            .header("content-type", "application/json")
                            .body(manifest(&format!("made-by-{i}"))),
                    )
                    .await
                }
                "DELETE /api/agents/{new}" => {
                    status(
                        http.delete(gw.url(&format!("/api/agents/made-by-{i}")))
                            .bearer_auth(key),
                    )
                    .await
                }
                "GET /api/users" => {
                    let (s, _, v) = send(http.get(gw.url("/api/users")).bearer_auth(key)).await;
                    if s == 200 {
                        assert_eq!(v["users"].as_array().unwrap().len(), 5, "{v}");
                        assert!(!v.to_string().contains("$argon2"), "no hash is served");
                    }
                    s
                }
                "POST /api/config/reload" => {
                    status(http.post(gw.url("/api/config/reload")).bearer_auth(key)).await
                }
                other => {
                    let (method, path) = other.split_once(' ').unwrap();
                    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                    status(http.request(m, gw.url(path)).bearer_auth(key)).await
                }
            };
            assert_eq!(got, want, "{route} as {key}");
            if want == 403 {
                assert_eq!(
                    llm.requests().len(),
                    before,
                    "a refused request never reaches the model"
                );
            }
        }
    }
    // The viewer's refused message never ran a tool or the model; the others did.
    assert_eq!(llm.requests().len(), 3);

    // Every refusal was audited, naming the user, the route and the role needed.
    let (s, _, v) = send(
        http.get(gw.url("/api/audit?event=access_denied&limit=100"))
            .bearer_auth("owner-key"),
    )
    .await;
    assert_eq!(s, 200);
    let denied = v["entries"].as_array().unwrap();
    assert!(denied.len() >= 17, "{}", denied.len());
    let text = v.to_string();
    assert!(text.contains("user:vic"), "{text}");
    assert!(text.contains("POST /api/config/reload"), "{text}");
    gw.stop();
}

async fn ws_reply(socket: &mut WsStream, text: &str) -> Value {
    socket
        .send(Message::Text(
            json!({"type": "message", "text": text}).to_string().into(),
        ))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
        if v["type"] != "delta" {
            return v;
        }
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits (bounded) for the server to close `socket`; returns the close code.
async fn closed_by_server(socket: &mut WsStream) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("the server closed the socket within 10 s");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test]
async fn a_reload_disables_a_user_at_once_and_closes_their_socket() {
    let llm = FakeLlm::start((0..8).map(|_| FakeReply::text("still here")).collect()).await;
    let home = make_home(&llm.base_url(), "");
    let both = |alice_enabled: bool, bob_role: &str| {
        format!(
            "{}{}",
            user("alice", "user", "alice-key", alice_enabled),
            user("bob", "user", "bob-key", true)
                .replace("role = \"user\"", &format!("role = \"{bob_role}\""))
        )
    };
    write_config(home.path(), &llm.base_url(), &both(true, "user"));
    let gw = start(home.path());
    let http = http();
    let ws = |key: &str| format!("ws://{}/api/agents/assistant/ws?token={key}", gw.addr);

    let (mut alice_ws, _) = tokio_tungstenite::connect_async(ws("alice-key"))
        .await
        .unwrap();
    let (mut bob_ws, _) = tokio_tungstenite::connect_async(ws("bob-key"))
        .await
        .unwrap();
    assert_eq!(ws_reply(&mut alice_ws, "hi").await["reply"], "still here");

    // Alice is disabled and the config reloaded by the owner.
    write_config(home.path(), &llm.base_url(), &both(false, "user"));
    let (s, _, v) = send(
        http.post(gw.url("/api/config/reload"))
            .bearer_auth(&home.key),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["reloaded"], true);
    assert_eq!(v["closed_websockets"], 1, "{v}");
    assert!(
        v["summary"].as_str().unwrap().contains("alice: disabled"),
        "{v}"
    );

    // Her open socket is closed by the server (1008), and her key is refused on the next request.
    assert_eq!(closed_by_server(&mut alice_ws).await, Some(1008));
    let before = llm.requests().len();
    let (s, _, v) = send(
        http.post(gw.url("/api/agents/assistant/message"))
            .bearer_auth("alice-key")
            .json(&json!({"message": "hi"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert!(matches!(
        tokio_tungstenite::connect_async(ws("alice-key")).await,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401
    ));
    assert_eq!(llm.requests().len(), before);
    // Bob was not touched.
    assert_eq!(ws_reply(&mut bob_ws, "hi").await["reply"], "still here");

    // A bad config is refused with the line and key; the old one stays in force.
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "api_key = \"vault:api_key\"\napi_listen = \"127.0.0.1:0\"\n{}[[users]]\nname = \"eve\"\nrol = \"owner\"\n",
            both(true, "user")
        ),
    )
    .unwrap();
    let (s, _, v) = send(
        http.post(gw.url("/api/config/reload"))
            .bearer_auth(&home.key),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("config.toml:"), "{message}");
    assert!(message.contains("rol"), "{message}");
    assert_eq!(
        status(http.get(gw.url("/api/me")).bearer_auth("alice-key")).await,
        401
    );
    assert_eq!(
        status(http.get(gw.url("/api/me")).bearer_auth("bob-key")).await,
        200
    );

    // SIGHUP re-reads it too: alice enabled again, bob downgraded to viewer.
    write_config(home.path(), &llm.base_url(), &both(true, "viewer"));
    let hup = Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut back = false;
    for _ in 0..100 {
        if status(http.get(gw.url("/api/me")).bearer_auth("alice-key")).await == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "SIGHUP reloaded the config");
    // Bob's role went down: his socket is closed and he may no longer send messages.
    assert_eq!(closed_by_server(&mut bob_ws).await, Some(1008));
    assert_eq!(
        status(
            http.post(gw.url("/api/agents/assistant/message"))
                .bearer_auth("bob-key")
                .json(&json!({"message": "hi"}))
        )
        .await,
        403
    );

    // Each reload is in the audit trail, the refused one as an error.
    let (_, _, v) = send(
        http.get(gw.url("/api/audit?event=config_change"))
            .bearer_auth(&home.key),
    )
    .await;
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("sighup") && text.contains("\"api\""),
        "{text}"
    );
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("$argon2"), "no hash in the trail");
    gw.stop();
}

/// The session a web chat conversation of `principal` with `assistant` runs on, computed the way
/// anyone could compute it from the principal's name (the digest is not a secret).
fn webchat_session_of(principal: &str) -> String {
    let input = format!("webchat\0assistant\0{principal}\0");
    let d = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    let hex: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ch-webchat-{hex}")
}

#[tokio::test]
async fn a_session_id_is_no_way_into_another_users_history() {
    let llm = FakeLlm::start((0..8).map(|_| FakeReply::text("noted")).collect()).await;
    let home = make_home(&llm.base_url(), "");
    let users = format!(
        "{}{}",
        user("alice", "user", "alice-key", true),
        user("bob", "user", "bob-key", true)
    );
    write_config(home.path(), &llm.base_url(), &users);
    let gw = start(home.path());
    let http = http();
    let message = |key: &str, session: Option<&str>| {
        let mut body = json!({"message": "what did I tell you?"});
        if let Some(s) = session {
            body["session_id"] = json!(s);
        }
        http.post(gw.url("/api/agents/assistant/message"))
            .bearer_auth(key)
            .json(&body)
    };

    // Alice names a session; it is hers from then on.
    let (s, _, v) = send(message("alice-key", Some("work"))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["session_id"], "work");
    let (s, _, v) = send(message("alice-key", Some("work"))).await;
    assert_eq!(s, 200, "{v}");
    let calls = llm.requests().len();

    // Bob names it on both fronts: refused, and no model sees her history.
    let (s, _, v) = send(message("bob-key", Some("work"))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let openai = json!({"model": "assistant", "session_id": "work",
                        "messages": [{"role": "user", "content": "and then?"}]});
    let (s, _, v) = send(
        http.post(gw.url("/v1/chat/completions"))
            .bearer_auth("bob-key")
            .json(&openai),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );

    // A session the gateway made for Alice is hers too.
    let (s, _, v) = send(message("alice-key", None)).await;
    assert_eq!(s, 200, "{v}");
    let fresh = v["session_id"].as_str().unwrap().to_owned();
    let (s, _, _) = send(message("bob-key", Some(&fresh))).await;
    assert_eq!(s, 403);
    assert_eq!(
        llm.requests().len(),
        calls + 1,
        "only Alice's turn reached the model"
    );

    // Alice's web chat conversation: its session id is computable, but no HTTP front takes it,
    // neither to read it afterwards nor to seed it before she first writes.
    let mut alice_ws = common::channels::connect(&gw, Some("alice-key")).await;
    let frame = common::channels::ask(&mut alice_ws, "remember: the code is 4711").await;
    assert_eq!(frame["type"], "reply", "{frame}");
    for (key, target) in [
        ("bob-key", "alice"),
        ("bob-key", "carol"),
        ("alice-key", "alice"),
    ] {
        let (s, _, v) = send(message(key, Some(&webchat_session_of(target)))).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{v}"
        );
    }
    assert_eq!(
        llm.requests().len(),
        calls + 2,
        "no refused request reached the model"
    );

    // Bob's own sessions still work, and every refusal is in the audit trail.
    let (s, _, _) = send(message("bob-key", Some("bobs"))).await;
    assert_eq!(s, 200);
    let denied = common::channels::audit(&gw, &home, "access_denied").await;
    let on_sessions: Vec<_> = denied
        .iter()
        .filter(|e| e.to_string().contains("session assistant/"))
        .collect();
    assert_eq!(on_sessions.len(), 3, "{denied:?}");
    assert!(
        on_sessions
            .iter()
            .all(|e| e.to_string().contains("user:bob")),
        "{on_sessions:?}"
    );
    gw.stop();
}
