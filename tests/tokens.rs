//! Personal access tokens and bot accounts against a real server: the scope matrix over every
//! published operation, revocation (REST and open WebSockets at once), expiry and sweeping,
//! limits and bad input, bots that cannot log in, the `confab bot` CLI with the server running
//! and stopped, and secrets that never reach the log.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cli::{confab, ok};
use common::{error_code, ws_url, BinaryServer, Client, TestServer, Ws, PASSWORD};
use confab::clock::{Clock, ManualClock, SystemClock};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Creates a token for `client`'s account; returns the status and body.
async fn mint(client: &Client, scopes: &[&str], expires_in: Option<u64>) -> (StatusCode, Value) {
    let mut body = json!({"name": "test token", "scopes": scopes});
    if let Some(secs) = expires_in {
        body["expires_in"] = json!(secs);
    }
    client.post("/api/tokens", body).await
}

/// A client that authenticates with a new token of `client`'s account with `scopes`.
async fn token_client(client: &Client, scopes: &[&str]) -> (Client, Value) {
    let (status, body) = mint(client, scopes, None).await;
    assert_eq!(status, StatusCode::CREATED, "mint {scopes:?}: {body}");
    let mut with_token = client.clone();
    with_token.token = Some(secret(&body));
    (with_token, body["token"].clone())
}

fn secret(issued: &Value) -> String {
    issued["secret"].as_str().expect("secret").to_string()
}

/// The scope an operation's description names (`Scope: `read``, `Scopes: `write` and `admin``).
fn documented_scope(operation: &Value) -> &'static str {
    let text = format!(
        "{} {}",
        operation["summary"].as_str().unwrap_or_default(),
        operation["description"].as_str().unwrap_or_default()
    );
    // Doc comments wrap lines anywhere.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.contains("Scopes: `write` and `admin`") {
        "admin"
    } else if text.contains("Scope: `read`") {
        "read"
    } else if text.contains("Scope: `write`") {
        "write"
    } else {
        panic!("an operation without its scope in its description: {operation}")
    }
}

/// One operation of the published API, with its path parameters filled in.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    template: String,
    scope: &'static str,
}

/// Every secured operation of `/api/openapi.json`, with the scope its description names.
async fn operations(server: &TestServer) -> Vec<Operation> {
    let (_, spec) = server.client().get("/api/openapi.json").await;
    let mut found = Vec::new();
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if !secured {
                continue;
            }
            let scope = documented_scope(operation);
            // The documentation matches the rule the server applies.
            match scope {
                "read" => assert_eq!(method, "get", "{method} {path} documents read"),
                _ => assert_ne!(method, "get", "{method} {path} documents {scope}"),
            }
            found.push(Operation {
                method: method.clone(),
                template: path.clone(),
                scope,
            });
        }
    }
    assert!(found.len() >= 30, "{found:?}");
    found
}

/// What the requests of the matrix act on: an admin's private room with a message, and a
/// second person.
struct Fixture {
    room: String,
    message: String,
}

impl Fixture {
    async fn new(owner: &Client, tag: &str) -> Self {
        let (status, room) = owner
            .post(
                "/api/rooms",
                json!({"name": format!("matrix {tag}"), "kind": "private"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{room}");
        let room = room["id"].as_str().expect("id").to_string();
        let message = owner.post_message(&room, "to change").await;
        Self {
            room,
            message: message["id"].as_str().expect("id").to_string(),
        }
    }

    fn path(&self, template: &str) -> String {
        let path = template
            .replace("{id}", &self.room)
            .replace("{message}", &self.message)
            .replace("{emoji}", "%F0%9F%91%8D")
            .replace("{username}", "bob")
            .replace("{invite_id}", "0000000000000000")
            .replace("{code}", "no-such-code")
            .replace("{hook}", "01JF0000000000000000000000");
        assert!(
            !path.contains('{'),
            "no value for a parameter of {template}: add one here"
        );
        path
    }
}

/// A request for `op` with a body it accepts, so that what decides the answer is the
/// credential, not a malformed body.
fn request(
    http: &reqwest::Client,
    base: &str,
    fixture: &Fixture,
    op: &Operation,
    tag: &str,
    scopes: &[&str],
) -> reqwest::RequestBuilder {
    let url = format!("{base}/api{}", fixture.path(&op.template));
    let t = op.template.as_str();
    let body = match (op.method.as_str(), t) {
        ("post", "/rooms") => Some(json!({"name": format!("new {tag}")})),
        ("post", "/rooms/{id}/messages") => Some(json!({"body": "hello"})),
        ("patch", "/rooms/{id}") => Some(json!({"topic": "changed"})),
        ("patch", "/rooms/{id}/messages/{message}") => Some(json!({"body": "edited"})),
        ("post", "/dms") => Some(json!({"users": ["bob"]})),
        ("post", "/tokens") | ("post", "/bots/{username}/tokens") => {
            Some(json!({"name": "from the matrix", "scopes": scopes}))
        }
        ("post", "/bots") => Some(json!({"username": format!("bot-{tag}")})),
        ("post", "/rooms/{id}/webhooks/incoming") => Some(json!({"name": "matrix"})),
        ("put", "/rooms/{id}/read") => Some(json!({"message": fixture.message})),
        ("put", "/rooms/{id}/notifications") => Some(json!({"level": "all"})),
        // A documentation address (TEST-NET-3): refused by the SSRF guard with a 400, which is
        // an answer past the credential check, never reached over the network.
        ("post", "/rooms/{id}/webhooks/outgoing") => {
            Some(json!({"url": "http://203.0.113.9/hook", "events": ["message"]}))
        }
        _ => None,
    };
    let method = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes()).expect("method");
    let builder = http.request(method, url);
    match body {
        Some(body) => builder.json(&body),
        None => builder,
    }
}

async fn answer(builder: reqwest::RequestBuilder, token: &str) -> (StatusCode, Value) {
    let response = builder.bearer_auth(token).send().await.expect("sent");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// The scope matrix: every secured operation of the OpenAPI document, with a read token, a
/// write token and an admin's token with every scope, each against fresh data. Logout (which
/// revokes the token it is called with) goes last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_scope_as_documented() {
    let server = TestServer::start().await;
    let root = server.user("root").await;
    let bob = server.user("bob").await;
    let ops = operations(&server).await;
    let logout = "/auth/logout";
    let http = reqwest::Client::new();

    // A non-admin may not mint `admin` at all.
    let (status, body) = mint(&bob, &["read", "admin"], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "admin_required");

    let kinds: [(&str, &[&str]); 4] = [
        ("read", &["read"]),
        ("write", &["write"]),
        ("admin", &["read", "write", "admin"]),
        ("people", &["read", "write"]),
    ];
    for (kind, scopes) in kinds {
        let holder = if kind == "people" { &bob } else { &root };
        let (client, _) = token_client(holder, scopes).await;
        let token = client.token.clone().expect("token");
        let fixture = Fixture::new(&root, kind).await;
        if kind == "people" {
            // bob can act in root's private room.
            let (status, _) = root
                .put(
                    &format!("/api/rooms/{}/members/bob", fixture.room),
                    Value::Null,
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        for op in ops.iter().filter(|op| op.template != logout) {
            let builder = request(&http, &server.base, &fixture, op, kind, scopes);
            let (status, body) = answer(builder, &token).await;
            let what = format!(
                "{} {} with a {kind} token: {status} {body}",
                op.method, op.template
            );
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{what}");
            assert!(!status.is_server_error(), "{what}");
            let has = |scope: &str| scopes.contains(&scope);
            let method_scope = if op.method == "get" { "read" } else { "write" };
            if !has(method_scope) || (op.scope == "admin" && !has("admin")) {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                assert_eq!(error_code(&body), "insufficient_scope", "{what}");
            } else if kind == "admin" {
                // An admin with every scope is refused nothing.
                assert_ne!(status, StatusCode::FORBIDDEN, "{what}");
            } else {
                // Others may meet the ordinary rules (bob is no owner of root's room), never a
                // scope refusal.
                let code = code_of(&body);
                assert!(
                    code != "insufficient_scope" && code != "admin_required",
                    "{what}"
                );
            }
        }
        // Logout: a write token revokes itself; a read token may not.
        let op = ops
            .iter()
            .find(|op| op.template == logout)
            .expect("logout is published");
        let (status, body) = answer(
            request(&http, &server.base, &fixture, op, kind, scopes),
            &token,
        )
        .await;
        if scopes.contains(&"write") {
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            assert_eq!(client.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert_eq!(error_code(&body), "insufficient_scope");
            assert_eq!(client.get("/api/auth/me").await.0, StatusCode::OK);
        }
    }

    // The Authorize dialog of Swagger UI describes access tokens.
    let (_, spec) = server.client().get("/api/openapi.json").await;
    let bearer = spec["components"]["securitySchemes"]["BearerAuth"]["description"]
        .as_str()
        .expect("bearer description");
    assert!(
        bearer.contains("cfb_") && bearer.contains("insufficient_scope"),
        "{bearer}"
    );
    server.stop().await;
}

/// A write token of an admin acts as a regular member on shared routes: deleting someone
/// else's room takes the `admin` scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_token_without_the_admin_scope_has_no_admin_powers() {
    let server = TestServer::start().await;
    let root = server.user("root").await;
    let alice = server.user("alice").await;
    let room = alice.create_room("alices").await;
    let (writer, _) = token_client(&root, &["read", "write"]).await;
    let (status, body) = writer.delete(&format!("/api/rooms/{room}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    let (_, me) = writer.get("/api/auth/me").await;
    assert_eq!(
        me["user"]["is_admin"], true,
        "the account is still shown as it is"
    );
    assert_eq!(me["scopes"], json!(["read", "write"]));
    let (admin, _) = token_client(&root, &["write", "admin"]).await;
    assert_eq!(
        admin.delete(&format!("/api/rooms/{room}")).await.0,
        StatusCode::NO_CONTENT
    );
    // A token can only mint tokens with scopes it has itself.
    let (status, body) = mint(&writer, &["read", "write", "admin"], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "insufficient_scope");
    let (status, body) = mint(&writer, &["read"], None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, me_session) = root.get("/api/auth/me").await;
    assert!(
        me_session.get("scopes").is_none(),
        "no scopes for a session"
    );
    server.stop().await;
}

async fn ws_with(base: &str, token: &str) -> Result<Ws, (u16, Value)> {
    let mut request = ws_url(base).into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(Ws { socket }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("websocket: {other}"),
    }
}

/// A read token's WebSocket joins and receives, and every changing frame is refused; a token
/// without `read` cannot open one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_websocket_receives_but_cannot_send() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("stream").await;
    let first = alice.post_message(&room, "first").await;
    let (reader, _) = token_client(&alice, &["read"]).await;
    let mut ws = reader.ws().await;
    let (_, backlog) = ws.join(&room, None, 1).await;
    assert_eq!(backlog[0]["id"], first["id"]);
    let mid = first["id"].as_str().expect("id");
    let frames = [
        json!({"type": "send", "room": room, "body": "nope", "nonce": "n1"}),
        json!({"type": "edit", "room": room, "message": mid, "body": "nope", "nonce": "n2"}),
        json!({"type": "delete", "room": room, "message": mid}),
        json!({"type": "react", "room": room, "message": mid, "emoji": "👍", "on": true}),
        json!({"type": "typing", "room": room}),
    ];
    for frame in frames {
        ws.send_json(frame.clone()).await;
        let refused = ws.recv_type("error").await;
        assert_eq!(refused["code"], "insufficient_scope", "{frame}: {refused}");
        if let Some(nonce) = frame.get("nonce") {
            assert_eq!(&refused["nonce"], nonce);
        }
    }
    // Still open and receiving.
    alice.post_message(&room, "live").await;
    let live = ws.recv_type("message").await;
    assert_eq!(live["message"]["body"], "live");
    let (_, messages) = alice.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(
        messages["messages"].as_array().map(Vec::len),
        Some(2),
        "nothing changed"
    );
    assert_eq!(messages["messages"][0]["reactions"], json!([]));

    let (writer, _) = token_client(&alice, &["write"]).await;
    match ws_with(&server.base, writer.token.as_deref().expect("token")).await {
        Err((status, body)) => {
            assert_eq!(status, 403, "{body}");
            assert_eq!(error_code(&body), "insufficient_scope");
        }
        Ok(_) => panic!("a token without read opened a WebSocket"),
    }
    // A read+write token sends.
    let (both, _) = token_client(&alice, &["read", "write"]).await;
    let mut ws = both.ws().await;
    ws.join(&room, None, 2).await;
    ws.send_json(json!({"type": "send", "room": room, "body": "from a token", "nonce": "t1"}))
        .await;
    let echo = ws.recv_type("message").await;
    assert_eq!(echo["nonce"], "t1");
    server.stop().await;
}

/// Revoking a token refuses it on REST at once and closes its WebSockets at once, while the
/// same user's session and other tokens go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_closes_its_websocket_and_refuses_it_at_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("revoked").await;
    let (doomed, doomed_token) = token_client(&alice, &["read", "write"]).await;
    let (kept, _) = token_client(&alice, &["read"]).await;
    let mut doomed_ws = doomed.ws().await;
    doomed_ws.join(&room, None, 0).await;
    let mut kept_ws = kept.ws().await;
    kept_ws.join(&room, None, 0).await;
    let mut session_ws = alice.ws().await;
    session_ws.join(&room, None, 0).await;

    let id = doomed_token["id"].as_str().expect("id");
    let started = Instant::now();
    let (status, body) = alice.delete(&format!("/api/tokens/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(doomed.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        doomed_ws.closed_with().await,
        Some(confab::ws::CLOSE_REVOKED),
        "closed with 4003"
    );
    // Far below the keepalive (a third of the 60 s idle timeout): the revocation closed it.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for ws in [&mut kept_ws, &mut session_ws] {
        ws.send_json(json!({"type": "ping"})).await;
        ws.recv_type("pong").await;
    }
    assert_eq!(kept.get("/api/auth/me").await.0, StatusCode::OK);
    let (status, body) = alice.delete(&format!("/api/tokens/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "token_not_found");
    let (_, list) = alice.get("/api/tokens").await;
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_shown_once_listed_without_secrets_and_touched_once_a_minute() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let server = TestServer::start_with_clock(clock.clone(), |_| {}).await;
    let alice = server.user("alice").await;
    let (status, issued) = mint(&alice, &["write", "read", "read"], Some(3600)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let secret = secret(&issued);
    assert!(secret.starts_with("cfb_") && secret.len() == 47, "{secret}");
    let token = &issued["token"];
    assert_eq!(token["name"], "test token");
    assert_eq!(token["scopes"], json!(["read", "write"]));
    assert_eq!(token["last_used_at"], Value::Null);
    let created = token["created_at"].as_str().expect("created_at");
    let expires = token["expires_at"].as_str().expect("expires_at");
    let ms = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("rfc3339")
            .unix_timestamp_nanos()
            / 1_000_000
    };
    assert_eq!(ms(expires) - ms(created), 3_600_000);
    let (_, list) = alice.get("/api/tokens").await;
    assert_eq!(list["tokens"], json!([token]), "listed as created");
    assert!(!list.to_string().contains(&secret), "no secret in the list");

    let mut with_token = alice.clone();
    with_token.token = Some(secret.clone());
    let (status, me) = with_token.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["user"]["is_bot"], false);
    let last_used = |list: Value| list["tokens"][0]["last_used_at"].clone();
    let first_use = last_used(alice.get("/api/tokens").await.1);
    assert!(first_use.is_string(), "{first_use}");
    clock.advance_ms(30_000);
    with_token.get("/api/rooms").await;
    assert_eq!(
        last_used(alice.get("/api/tokens").await.1),
        first_use,
        "not rewritten within a minute"
    );
    clock.advance_ms(31_000);
    with_token.get("/api/rooms").await;
    let later = last_used(alice.get("/api/tokens").await.1);
    assert_ne!(later, first_use, "rewritten after a minute");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused_and_swept() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    // The reaper sweeps at start and then hourly: the explicit sweep below is the one that counts.
    let server = TestServer::start_with_clock(clock.clone(), |c| {
        c.rooms.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let alice = server.user("alice").await;
    let (short, _) = {
        let (status, body) = mint(&alice, &["read"], Some(60)).await;
        assert_eq!(status, StatusCode::CREATED);
        let mut client = alice.clone();
        client.token = Some(secret(&body));
        (client, body)
    };
    let (status, unused) = mint(&alice, &["read"], Some(120)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (forever, _) = token_client(&alice, &["read"]).await;
    assert_eq!(short.get("/api/auth/me").await.0, StatusCode::OK);

    clock.advance_ms(60_000);
    let (status, body) = short.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired: {body}");
    assert_eq!(error_code(&body), "unauthorized");
    match ws_with(&server.base, short.token.as_deref().expect("token")).await {
        Err((status, _)) => assert_eq!(status, 401),
        Ok(_) => panic!("an expired token opened a WebSocket"),
    }
    let (_, list) = alice.get("/api/tokens").await;
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(2), "{list}");

    // The other one expires unseen and is swept by the reaper's job.
    clock.advance_ms(60_000);
    let swept = server
        .state()
        .accounts
        .purge_expired_tokens()
        .await
        .expect("sweep");
    assert_eq!(swept, 1, "the unused expired token");
    let (_, list) = alice.get("/api/tokens").await;
    let ids: Vec<&Value> = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert!(!ids.contains(&&unused["token"]["id"]));
    assert_eq!(ids.len(), 1);
    assert_eq!(forever.get("/api/auth/me").await.0, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_requests_get_specific_codes_and_accounts_hold_at_most_50() {
    let server = TestServer::start().await;
    let _root = server.user("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let cases = [
        (
            json!({"name": "", "scopes": ["read"]}),
            "invalid_token_name",
        ),
        (
            json!({"name": "   ", "scopes": ["read"]}),
            "invalid_token_name",
        ),
        (
            json!({"name": "x".repeat(65), "scopes": ["read"]}),
            "invalid_token_name",
        ),
        (
            json!({"name": "a\u{7}b", "scopes": ["read"]}),
            "invalid_token_name",
        ),
        (json!({"name": "ok", "scopes": []}), "invalid_scope"),
        (json!({"name": "ok", "scopes": ["root"]}), "invalid_scope"),
        (
            json!({"name": "ok", "scopes": ["read", "READ"]}),
            "invalid_scope",
        ),
        (
            json!({"name": "ok", "scopes": ["read"], "expires_in": 0}),
            "invalid_expiry",
        ),
        (
            json!({"name": "ok", "scopes": ["read"], "expires_in": 31_536_001}),
            "invalid_expiry",
        ),
        (
            json!({"name": "ok", "scopes": ["read"], "expires_in": -5}),
            "bad_request",
        ),
        (
            json!({"name": "ok", "scopes": ["read"], "expires_in": "60"}),
            "bad_request",
        ),
        (json!({"name": "ok", "scopes": "read"}), "bad_request"),
        (json!({"name": "ok"}), "bad_request"),
        (json!({"name": 5, "scopes": ["read"]}), "bad_request"),
    ];
    for (body, code) in cases {
        let (status, answer) = alice.post("/api/tokens", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}");
    }
    let (status, body) = mint(&alice, &["admin"], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "admin_required");
    let (status, _) = mint(&alice, &["read"], Some(31_536_000)).await;
    assert_eq!(status, StatusCode::CREATED, "a year is allowed");

    // 50 per account, counted under a lock: a burst cannot pass it.
    let burst: Vec<_> = (0..60).map(|_| mint(&alice, &["read"], None)).collect();
    let answers = futures_util::future::join_all(burst).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 49, "one existed already");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(error_code(body), "too_many_tokens");
    }
    let (_, list) = alice.get("/api/tokens").await;
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(50));
    assert_eq!(
        mint(&bob, &["read"], None).await.0,
        StatusCode::CREATED,
        "bob has his own 50"
    );

    // Revoking: someone else's token, or a malformed id, is not found.
    let alices = list["tokens"][0]["id"].as_str().expect("id");
    let (status, body) = bob.delete(&format!("/api/tokens/{alices}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "token_not_found");
    assert_eq!(
        bob.delete("/api/tokens/not-an-id").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        alice.delete(&format!("/api/tokens/{alices}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        mint(&alice, &["read"], None).await.0,
        StatusCode::CREATED,
        "room again"
    );

    // Forged and malformed access tokens are refused like any bad credential.
    for forged in [
        "cfb_".to_string() + &"A".repeat(43),
        "cfb_short".into(),
        "cfb_".repeat(40),
    ] {
        let mut client = alice.clone();
        client.token = Some(forged.clone());
        let (status, body) = client.get("/api/auth/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
        assert_eq!(error_code(&body), "unauthorized");
    }
    server.stop().await;
}

/// Runs admin operations the way `confab user|bot ...` does inside the server.
async fn admin(server: &TestServer, request: confab::admin::Request) -> confab::admin::Reply {
    let state = server.state();
    let services = confab::admin::Services {
        chat: state.chat.clone(),
        accounts: state.accounts.clone(),
        search: state.search.clone(),
    };
    confab::admin::execute(&services, request)
        .await
        .expect("admin operation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_or_deleting_a_user_revokes_their_tokens_and_closes_their_sockets() {
    use confab::admin::Request;
    let server = TestServer::start().await;
    let _root = server.user("root").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (alice_token, _) = token_client(&alice, &["read", "write"]).await;
    let (bob_token, _) = token_client(&bob, &["read"]).await;
    let mut alice_ws = alice_token.ws().await;
    let mut bob_ws = bob_token.ws().await;

    admin(
        &server,
        Request::UserLock {
            username: "alice".into(),
            locked: true,
        },
    )
    .await;
    assert_eq!(
        alice_ws.closed_with().await,
        Some(confab::ws::CLOSE_REVOKED)
    );
    assert_eq!(
        alice_token.get("/api/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    admin(
        &server,
        Request::UserLock {
            username: "alice".into(),
            locked: false,
        },
    )
    .await;
    assert_eq!(
        alice_token.get("/api/auth/me").await.0,
        StatusCode::UNAUTHORIZED,
        "unlocking does not bring tokens back"
    );
    // (The lock ended alice's session too: ask the accounts directly.)
    let left = server.state().accounts.tokens_of("alice").expect("tokens");
    assert!(left.is_empty(), "{left:?}");

    admin(
        &server,
        Request::UserDelete {
            username: "bob".into(),
        },
    )
    .await;
    assert_eq!(bob_ws.closed_with().await, Some(confab::ws::CLOSE_REVOKED));
    assert_eq!(
        bob_token.get("/api/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    // A new "bob" does not inherit anything.
    let bob_again = server.user("bob").await;
    let (_, list) = bob_again.get("/api/tokens").await;
    assert_eq!(list["tokens"], json!([]));
    assert_eq!(
        bob_token.get("/api/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_cannot_log_in_act_through_tokens_and_are_marked() {
    let server = TestServer::start().await;
    let root = server.user("root").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;

    let (status, body) = bob.post("/api/bots", json!({"username": "sneaky"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "admin_required");
    let (status, created) = root
        .post(
            "/api/bots",
            json!({"username": "Deploy-Bot", "owner": "BOB"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"username": "deploy-bot", "is_admin": false, "created_at": created["created_at"],
               "is_bot": true, "owner": "bob"})
    );
    let (status, body) = root
        .post("/api/bots", json!({"username": "deploy-bot"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "username_taken")
    );
    let (status, body) = root
        .post(
            "/api/bots",
            json!({"username": "other-bot", "owner": "deploy-bot"}),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "user_not_found"),
        "a bot owns no bot"
    );
    let (status, body) = root.post("/api/bots", json!({"username": "x"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_username")
    );

    // Login answers exactly like a wrong password, whatever the password.
    let anonymous = server.client();
    let (status, as_bot) = anonymous
        .post(
            "/api/auth/login",
            json!({"username": "deploy-bot", "password": ""}),
        )
        .await;
    let (wrong_status, wrong) = anonymous
        .post(
            "/api/auth/login",
            json!({"username": "carol", "password": "not her password"}),
        )
        .await;
    assert_eq!(
        (status, wrong_status),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(as_bot, wrong);
    let (status, _) = anonymous
        .post(
            "/api/auth/login",
            json!({"username": "deploy-bot", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Its owner mints its tokens; so may an admin; nobody else.
    let ask = json!({"name": "ci", "scopes": ["read", "write"]});
    let (status, body) = carol.post("/api/bots/deploy-bot/tokens", ask.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, body) = bob.post("/api/bots/nobody/tokens", ask.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "bot_not_found")
    );
    let (status, body) = bob.post("/api/bots/carol/tokens", ask.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "bot_not_found"),
        "people are not bots"
    );
    let admin_ask = json!({"name": "ci", "scopes": ["admin"]});
    let (status, body) = root.post("/api/bots/deploy-bot/tokens", admin_ask).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "admin_required")
    );
    let (status, issued) = bob.post("/api/bots/deploy-bot/tokens", ask.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let (status, by_admin) = root.post("/api/bots/deploy-bot/tokens", ask.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{by_admin}");
    let (_, listed) = bob.get("/api/bots/deploy-bot/tokens").await;
    assert_eq!(listed["tokens"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        carol.get("/api/bots/deploy-bot/tokens").await.0,
        StatusCode::FORBIDDEN
    );
    let (_, bobs_own) = bob.get("/api/tokens").await;
    assert_eq!(
        bobs_own["tokens"],
        json!([]),
        "the bot's tokens are not bob's"
    );

    let mut bot = server.client();
    bot.token = Some(secret(&issued));
    let (_, me) = bot.get("/api/auth/me").await;
    assert_eq!(me["user"]["username"], "deploy-bot");
    assert_eq!(me["user"]["is_bot"], true);
    let (_, me) = bob.get("/api/auth/me").await;
    assert_eq!(me["user"]["is_bot"], false);

    // Rooms: public ones on its own, private ones only once added.
    let public = carol.create_room("builds").await;
    let (status, _) = bot.post_empty(&format!("/api/rooms/{public}/join")).await;
    assert_eq!(status, StatusCode::OK);
    bot.post_message(&public, "build 42 passed").await;
    let (status, private) = carol
        .post("/api/rooms", json!({"name": "ops", "kind": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let private = private["id"].as_str().expect("id");
    let read = format!("/api/rooms/{private}/messages");
    assert_eq!(bot.get(&read).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        bot.post_empty(&format!("/api/rooms/{private}/join"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, added) = carol
        .put(
            &format!("/api/rooms/{private}/members/deploy-bot"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(added["is_bot"], true);
    assert_eq!(bot.get(&read).await.0, StatusCode::OK);
    let mut ws = bot.ws().await;
    ws.join(private, None, 0).await;
    ws.send_json(json!({"type": "send", "room": private, "body": "deployed", "nonce": "d1"}))
        .await;
    assert_eq!(
        ws.recv_type("message").await["message"]["author"],
        "deploy-bot"
    );

    // Marked wherever users are listed.
    let (_, members) = carol.get(&format!("/api/rooms/{private}/members")).await;
    let flags: Vec<(String, bool)> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["username"].as_str().expect("name").to_string(),
                m["is_bot"] == true,
            )
        })
        .collect();
    assert_eq!(
        flags,
        [("carol".into(), false), ("deploy-bot".into(), true)]
    );
    let (_, directory) = carol.get("/api/users?q=de").await;
    assert_eq!(
        directory["users"],
        json!([{"username": "deploy-bot"}]),
        "the directory lists names only"
    );
    let (_, bots) = carol.get("/api/bots").await;
    assert_eq!(bots["bots"][0]["username"], "deploy-bot");
    assert_eq!(bots["bots"].as_array().map(Vec::len), Some(1));

    // Revoking a bot token closes its socket; deleting its owner leaves it ownerless.
    let id = issued["token"]["id"].as_str().expect("id");
    assert_eq!(
        bob.delete(&format!("/api/bots/deploy-bot/tokens/{id}"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(ws.closed_with().await, Some(confab::ws::CLOSE_REVOKED));
    admin(
        &server,
        confab::admin::Request::UserDelete {
            username: "bob".into(),
        },
    )
    .await;
    let bob_again = server.user("bob").await;
    assert_eq!(
        bob_again.get("/api/bots/deploy-bot/tokens").await.0,
        StatusCode::FORBIDDEN,
        "a new bob does not inherit the bot"
    );
    let (_, bots) = root.get("/api/bots").await;
    assert_eq!(bots["bots"][0]["owner"], Value::Null);
    server.stop().await;
}

/// The first person to sign up becomes the admin even when a bot was made first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_made_first_does_not_take_the_first_admin_seat() {
    let server = TestServer::start().await;
    admin(
        &server,
        confab::admin::Request::BotAdd {
            username: "early-bot".into(),
            owner: None,
            token: None,
        },
    )
    .await;
    let first = server.user("first").await;
    let (_, me) = first.get("/api/auth/me").await;
    assert_eq!(me["user"]["is_admin"], true);
    server.stop().await;
}

/// The secret printed on the last line of `bot add` / `bot token`.
fn printed_secret(stdout: &str) -> String {
    let last = stdout.lines().last().expect("output").trim().to_string();
    assert!(last.starts_with("cfb_") && last.len() == 47, "{stdout}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_commands_work_with_the_server_stopped_and_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let password = format!("{PASSWORD}\n");
    ok(&confab(
        data,
        &["user", "add", "root", "--admin", "--password-stdin"],
        Some(&password),
    ));

    // Stopped: straight on the data directory.
    let out = ok(&confab(
        data,
        &["bot", "add", "ci-bot", "--owner", "root"],
        None,
    ));
    assert!(
        out.contains("bot ci-bot, owned by root") && out.contains("read, write"),
        "{out}"
    );
    let stopped_secret = printed_secret(&out);
    let failed = confab(data, &["bot", "add", "ci-bot"], None);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("taken"));
    let failed = confab(data, &["bot", "add", "lonely", "--owner", "nobody"], None);
    assert!(String::from_utf8_lossy(&failed.stderr).contains("user_not_found"));
    let failed = confab(
        data,
        &["user", "passwd", "ci-bot", "--password-stdin"],
        Some(&password),
    );
    assert!(String::from_utf8_lossy(&failed.stderr).contains("bot_account"));

    // Running: through the control socket, in effect at once.
    let server = BinaryServer::start(data, &[]);
    let mut bot = server.client();
    bot.token = Some(stopped_secret.clone());
    let (status, me) = bot.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["is_bot"], true);
    assert_eq!(me["scopes"], json!(["read", "write"]));
    let room = bot.create_room("ci results").await;
    bot.post_message(&room, "green").await;

    let out = ok(&confab(data, &["bot", "add", "deployer"], None));
    let mut deployer = server.client();
    deployer.token = Some(printed_secret(&out));
    assert_eq!(deployer.get("/api/auth/me").await.0, StatusCode::OK);
    let out = ok(&confab(
        data,
        &[
            "bot",
            "token",
            "ci-bot",
            "--name",
            "reader",
            "--scopes",
            "read",
            "--expires-in",
            "1h",
        ],
        None,
    ));
    assert!(out.contains("expires 2"), "{out}");
    let mut reader = server.client();
    reader.token = Some(printed_secret(&out));
    assert_eq!(reader.get("/api/rooms").await.0, StatusCode::OK);
    let (status, body) = reader.post("/api/rooms", json!({"name": "nope"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    let out = ok(&confab(data, &["bot", "add", "quiet", "--no-token"], None));
    assert!(!out.contains("cfb_"), "{out}");
    let failed = confab(data, &["bot", "token", "root"], None);
    assert!(String::from_utf8_lossy(&failed.stderr).contains("bot_not_found"));
    let list: Value =
        serde_json::from_str(&ok(&confab(data, &["bot", "list", "--json"], None))).expect("json");
    let names: Vec<&str> = list
        .as_array()
        .expect("bots")
        .iter()
        .map(|b| b["username"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["ci-bot", "deployer", "quiet"]);
    assert_eq!(list[0]["owner"], "root");

    // Locking the bot from the CLI cuts its token off at once.
    ok(&confab(data, &["user", "lock", "ci-bot"], None));
    assert_eq!(bot.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    drop(server);
    let table = ok(&confab(data, &["bot", "list"], None));
    assert!(
        table.contains("deployer") && table.contains("OWNER"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let mut server =
        BinaryServer::start_logged(&dir.path().join("data"), &[("RUST_LOG", "debug")], &log);
    let base = server.base.clone();
    let root = Client::anonymous(&base).register("root").await;
    let (with_token, token) = token_client(&root, &["read", "write"]).await;
    let token_secret = with_token.token.clone().expect("secret");
    let (reader, _) = token_client(&root, &["read"]).await;
    let read_secret = reader.token.clone().expect("secret");
    let room = with_token.create_room("logged").await;
    with_token.post_message(&room, "from a token").await;
    let (status, _) = reader.post("/api/rooms", json!({"name": "refused"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut ws = with_token.ws().await;
    ws.join(&room, None, 1).await;
    ws.send_json(json!({"type": "send", "room": room, "body": "ws", "nonce": "n"}))
        .await;
    ws.recv_type("message").await;
    let (status, bot) = root.post("/api/bots", json!({"username": "logbot"})).await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    let (_, bot_token) = root
        .post(
            "/api/bots/logbot/tokens",
            json!({"name": "x", "scopes": ["read"]}),
        )
        .await;
    let bot_secret = secret(&bot_token);
    let id = token["id"].as_str().expect("id");
    assert_eq!(
        root.delete(&format!("/api/tokens/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(ws.closed_with().await.is_some());
    assert_eq!(
        with_token.get("/api/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics");

    assert!(Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill")
        .success());
    assert!(
        server.wait_for_exit(Duration::from_secs(20)).is_some(),
        "the server exits on SIGTERM"
    );
    let stderr = std::fs::read_to_string(&log).expect("read logs");
    assert!(
        stderr.contains("/api/tokens") && stderr.contains("access token created"),
        "{stderr}"
    );
    for needle in [&token_secret, &read_secret, &bot_secret] {
        // Nor its random part on its own.
        for text in [needle.as_str(), &needle[4..]] {
            assert!(!stderr.contains(text), "a secret leaked into the log");
            assert!(!metrics.contains(text), "a secret leaked into the metrics");
        }
    }
}

/// A backup taken while the server runs carries access tokens (as hashes) and bots: after a
/// restore into a new data directory, the same secrets work, revoked ones stay revoked, and the
/// bot is still a bot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_bots_survive_a_backup_and_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, restored) = (dir.path().join("source"), dir.path().join("restored"));
    let file = dir.path().join("confab.backup");
    let server = BinaryServer::start(&source, &[]);
    let root = server.client().register("root").await;
    let (kept, _) = token_client(&root, &["read", "write"]).await;
    let (revoked, revoked_token) = token_client(&root, &["read"]).await;
    let id = revoked_token["id"].as_str().expect("id");
    assert_eq!(
        root.delete(&format!("/api/tokens/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, _) = root
        .post("/api/bots", json!({"username": "kept-bot"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, issued) = root
        .post(
            "/api/bots/kept-bot/tokens",
            json!({"name": "ci", "scopes": ["read"], "expires_in": 86_400}),
        )
        .await;
    let out = ok(&confab(
        &source,
        &["backup", "create", file.to_str().expect("path")],
        None,
    ));
    assert!(
        out.contains("2 users, ") && out.contains(" 2 access tokens,"),
        "{out}"
    );
    drop(server);
    let out = ok(&confab(
        &restored,
        &["backup", "restore", file.to_str().expect("path")],
        None,
    ));
    assert!(out.contains("restored"), "{out}");

    let server = BinaryServer::start(&restored, &[]);
    let mut client = server.client();
    client.token = kept.token.clone();
    let (status, me) = client.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["scopes"], json!(["read", "write"]));
    client.token = revoked.token.clone();
    assert_eq!(client.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    client.token = Some(secret(&issued));
    let (status, me) = client.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["is_bot"], true);
    let (_, listed) = client.get("/api/bots").await;
    assert_eq!(listed["bots"][0]["username"], "kept-bot");
    let (status, _) = server
        .client()
        .post(
            "/api/auth/login",
            json!({"username": "kept-bot", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "still no password");
}
