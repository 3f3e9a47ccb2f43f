//! The REST contract against a real server over real HTTP.

mod common;

use common::{error_code, TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Sign-ups racing on an empty server: exactly one of them becomes the admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_sign_ups_make_exactly_one_admin() {
    let server = TestServer::start().await;
    let names: Vec<String> = (0..6).map(|i| format!("founder{i}")).collect();
    let clients =
        futures_util::future::join_all(names.iter().map(|name| server.client().register(name)))
            .await;
    let mut admins = 0;
    for client in &clients {
        let (_, me) = client.get("/api/auth/me").await;
        if me["user"]["is_admin"] == true {
            admins += 1;
        }
    }
    assert_eq!(admins, 1, "one admin among {names:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_openapi_and_swagger_ui_are_served() {
    let server = TestServer::start().await;
    let client = server.client();
    let (status, body) = client.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");

    let (status, spec) = client.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    assert_eq!(spec["servers"][0]["url"], "/api");
    let paths = spec["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/auth/register", &["post"][..]),
        ("/auth/login", &["post"]),
        ("/auth/logout", &["post"]),
        ("/auth/me", &["get"]),
        ("/rooms", &["get", "post"]),
        ("/rooms/{id}", &["get", "delete"]),
        ("/rooms/{id}/messages", &["get", "post"]),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} missing from the spec"
            );
        }
    }
    let schemes = spec["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(
        schemes.values().any(|s| s["scheme"] == "bearer"),
        "bearer scheme documented"
    );
    assert!(
        schemes
            .values()
            .any(|s| s["in"] == "cookie" && s["name"] == "confab_session"),
        "cookie scheme documented"
    );
    for schema in ["User", "Room", "Message", "ErrorBody"] {
        assert!(
            spec["components"]["schemas"].get(schema).is_some(),
            "{schema} schema documented"
        );
    }

    let docs = reqwest::get(format!("{}/api/docs/", server.base))
        .await
        .expect("docs");
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs
        .text()
        .await
        .expect("html")
        .to_lowercase()
        .contains("swagger"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_sets_a_hardened_cookie_and_validates_input() {
    let server = TestServer::start().await;
    let client = server.client();
    let response = client
        .http
        .post(format!("{}/api/auth/register", server.base))
        .json(&json!({"username": "Alice", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["is_admin"], true, "first account is the admin");
    let token = body["token"].as_str().expect("token");
    assert!(token.len() >= 43, "256-bit token");
    assert!(cookie.starts_with(&format!("confab_session={token}")));
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure flag without TLS in front"
    );

    let second = server.user("bob").await;
    let (_, me) = second.get("/api/auth/me").await;
    assert_eq!(
        me["user"]["is_admin"], false,
        "later accounts are not admins"
    );

    for (username, password, code) in [
        ("ALICE", PASSWORD, "username_taken"),
        ("al", PASSWORD, "invalid_username"),
        ("bad name", PASSWORD, "invalid_username"),
        (&"x".repeat(33), PASSWORD, "invalid_username"),
        ("carol", "short", "invalid_password"),
        ("carol", &"p".repeat(1025), "invalid_password"),
    ] {
        let (status, body) = client
            .post(
                "/api/auth/register",
                json!({"username": username, "password": password}),
            )
            .await;
        let expected = if code == "username_taken" {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{username}: {body}");
        assert_eq!(error_code(&body), code);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookie_flag_and_closed_registration_follow_config() {
    let server = TestServer::start_with(|c| {
        c.auth.secure_cookies = true;
    })
    .await;
    let response = server
        .client()
        .http
        .post(format!("{}/api/auth/register", server.base))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert!(response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .contains("; Secure"));
    server.stop().await;

    let closed = TestServer::start_with(|c| c.auth.registration_open = false).await;
    let (status, body) = closed
        .client()
        .post(
            "/api/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "registration_closed");
    closed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_logout_and_me_with_bearer_and_cookie() {
    let server = TestServer::start().await;
    server.user("alice").await;
    let client = server.client();
    let (status, body) = client
        .post(
            "/api/auth/login",
            json!({"username": "Alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token").to_string();

    // Cookie authentication, as a browser does it.
    let me = client
        .http
        .get(format!("{}/api/auth/me", server.base))
        .header("cookie", format!("confab_session={token}"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(
        me.json::<Value>().await.expect("json")["user"]["username"],
        "alice"
    );

    let mut authed = client.clone();
    authed.token = Some(token.clone());
    let (status, _) = authed.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = authed.post("/api/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = authed.get("/api/auth/me").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a logged-out token stops working at once"
    );
    assert_eq!(error_code(&body), "unauthorized");

    let (status, body) = server.client().get("/api/auth/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    error_code(&body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_look_the_same_and_are_throttled() {
    let server = TestServer::start_with(|c| c.auth.login_max_failures = 3).await;
    server.user("alice").await;
    let client = server.client();
    let (status_wrong, wrong) = client
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": "nope-nope"}),
        )
        .await;
    let (status_unknown, unknown) = client
        .post(
            "/api/auth/login",
            json!({"username": "zed", "password": "nope-nope"}),
        )
        .await;
    assert_eq!(status_wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown, "no username enumeration through the answer");
    assert_eq!(status_unknown, StatusCode::UNAUTHORIZED);
    let _ = client
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": "nope-nope"}),
        )
        .await;
    // Three failures from this address: even the right password is refused for now.
    let response = client
        .http
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(
        error_code(&response.json().await.expect("json")),
        "rate_limited"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_created_listed_read_and_deleted_by_their_owner_or_an_admin() {
    let server = TestServer::start().await;
    let admin = server.user("admin").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    let (status, room) = alice
        .post("/api/rooms", json!({"name": "  General  "}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["name"], "General");
    assert_eq!(room["created_by"], "alice");
    for field in ["id", "created_at", "expires_at"] {
        assert!(room[field].is_string(), "{field}");
    }
    let created = time_ms(&room["created_at"]);
    let expires = time_ms(&room["expires_at"]);
    assert_eq!(
        expires - created,
        7 * 24 * 3600 * 1000,
        "rooms live 7 days by default"
    );
    let id = room["id"].as_str().expect("id");

    let (status, body) = bob.post("/api/rooms", json!({"name": "general"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "room_name_taken");
    for bad in ["   ", &"x".repeat(65), "tab\there"] {
        let (status, body) = bob.post("/api/rooms", json!({ "name": bad })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(error_code(&body), "invalid_room_name");
    }
    assert_eq!(
        bob.post("/api/rooms", json!({"name": "x".repeat(64)}))
            .await
            .0,
        StatusCode::CREATED
    );

    let (status, list) = bob.get("/api/rooms").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["rooms"].as_array().expect("rooms").len(), 2);
    let (status, one) = bob.get(&format!("/api/rooms/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["name"], "General");
    for missing in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-a-room"] {
        let (status, body) = bob.get(&format!("/api/rooms/{missing}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_code(&body), "not_found");
    }

    let (status, body) = bob.delete(&format!("/api/rooms/{id}")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the creator or an admin"
    );
    assert_eq!(error_code(&body), "forbidden");
    let (status, _) = alice.delete(&format!("/api/rooms/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        alice.get(&format!("/api/rooms/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    // The name is free again once the room is gone.
    let other = bob.create_room("general").await;
    let (status, _) = admin.delete(&format!("/api/rooms/{other}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "admins may delete any room");

    let (status, body) = server.client().get("/api/rooms").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    error_code(&body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_posted_and_paged_oldest_first() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("paging").await;
    let mut ids = Vec::new();
    for i in 0..120 {
        let message = alice.post_message(&room, &format!("message {i}")).await;
        assert_eq!(message["room"], room.as_str());
        assert_eq!(message["author"], "alice");
        assert_eq!(message["body"], format!("message {i}"));
        let sent_at = message["sent_at"].as_str().expect("sent_at");
        assert!(
            sent_at.ends_with('Z') && sent_at.len() == 24,
            "RFC 3339 UTC with milliseconds: {sent_at}"
        );
        ids.push(message["id"].as_str().expect("id").to_string());
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids sort as strings in send order");

    let page = |body: &Value| -> Vec<String> {
        body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["body"].as_str().expect("body").to_string())
            .collect()
    };
    let (status, newest) = alice.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(status, StatusCode::OK);
    let newest = page(&newest);
    assert_eq!(newest.len(), 50, "default limit");
    assert_eq!(newest.first().map(String::as_str), Some("message 70"));
    assert_eq!(newest.last().map(String::as_str), Some("message 119"));

    let (_, before) = alice
        .get(&format!(
            "/api/rooms/{room}/messages?before={}&limit=10",
            ids[70]
        ))
        .await;
    assert_eq!(
        page(&before),
        (60..70).map(|i| format!("message {i}")).collect::<Vec<_>>()
    );
    let (_, after) = alice
        .get(&format!(
            "/api/rooms/{room}/messages?after={}&limit=5",
            ids[9]
        ))
        .await;
    assert_eq!(
        page(&after),
        (10..15).map(|i| format!("message {i}")).collect::<Vec<_>>()
    );
    let (_, all) = alice
        .get(&format!("/api/rooms/{room}/messages?limit=200"))
        .await;
    assert_eq!(page(&all).len(), 120);

    for query in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "before=zzz",
        "after=12",
    ] {
        let (status, body) = alice
            .get(&format!("/api/rooms/{room}/messages?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        error_code(&body);
    }
    let (status, body) = alice
        .get("/api/rooms/01ARZ3NDEKTSV4RRFFQ69G5FAV/messages")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    error_code(&body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_bodies_are_validated_and_nonces_make_retries_idempotent() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("rules").await;
    let path = format!("/api/rooms/{room}/messages");
    for (body, status, code) in [
        (
            json!({"body": "   \n"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"body": "x".repeat(4001)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            json!({"body": {"nested": true}}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"body": ["a"]}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // No body and no attachments: an empty message.
        (json!({}), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            json!({"body": "hi", "nonce": ""}),
            StatusCode::BAD_REQUEST,
            "invalid_nonce",
        ),
    ] {
        let (got, answer) = alice.post(&path, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(error_code(&answer), code);
    }
    let (status, _) = alice.post(&path, json!({"body": "é".repeat(4000)})).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "4000 characters (not bytes) fit"
    );

    let (first_status, first) = alice
        .post(&path, json!({"body": "once", "nonce": "n-1"}))
        .await;
    let (retry_status, retry) = alice
        .post(&path, json!({"body": "once", "nonce": "n-1"}))
        .await;
    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(retry_status, StatusCode::CREATED);
    assert_eq!(
        first, retry,
        "the retry is answered with the original message"
    );
    let (_, list) = alice.get(&path).await;
    let count = list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["body"] == "once")
        .count();
    assert_eq!(count, 1, "stored once");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_even_for_malformed_requests() {
    let server = TestServer::start_with(|c| c.limits.max_body_bytes = 4096).await;
    let alice = server.user("alice").await;
    let http = &alice.http;
    let url = format!("{}/api/rooms", server.base);
    let token = alice.token.clone().expect("token");
    let cases = [
        (
            http.post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            http.post(&url)
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body("name"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            http.post(&url)
                .bearer_auth(&token)
                .json(&json!({"name": "x".repeat(10_000)})),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            http.get(format!("{}/api/no/such/route", server.base)),
            StatusCode::NOT_FOUND,
        ),
        (
            http.put(&url).bearer_auth(&token),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            http.get(&url).bearer_auth("garbage"),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (request, expected) in cases {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), expected);
        assert!(response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/json"));
        error_code(&response.json().await.expect("json body"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_from_other_sites_are_refused() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let token = alice.token.clone().expect("token");
    let url = format!("{}/api/rooms", server.base);
    let host = server.base.trim_start_matches("http://").to_string();
    let attempt = |origin: &str| {
        alice
            .http
            .post(&url)
            .header("cookie", format!("confab_session={token}"))
            .header("origin", origin)
            .json(&json!({"name": format!("from {origin}")}))
            .send()
    };
    let forged = attempt("https://evil.example").await.expect("sent");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let same_site = attempt(&format!("http://{host}")).await.expect("sent");
    assert_eq!(same_site.status(), StatusCode::CREATED);
    // A bearer token is never sent by a browser on its own, so it needs no origin check.
    let bearer = alice
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("origin", "https://elsewhere.example")
        .json(&json!({"name": "bot room"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(bearer.status(), StatusCode::CREATED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_the_ui_is_served() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/", server.base))
        .await
        .expect("index");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("referrer-policy").is_some());
    server.stop().await;
}

fn time_ms(value: &Value) -> i64 {
    let text = value.as_str().expect("time string");
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    (parsed.unix_timestamp_nanos() / 1_000_000) as i64
}
