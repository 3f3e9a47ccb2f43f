//! The WebSocket contract against a real server with real WebSocket clients.

mod common;

use std::time::Duration;

use common::{error_code, ws_url, TestServer, Ws};
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_needs_a_session_and_our_origin() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let unauthenticated = reqwest::Client::new()
        .get(format!("{}/api/ws", server.base))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("sent");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    error_code(&unauthenticated.json().await.expect("json"));

    let mut request = ws_url(&server.base).into_client_request().expect("request");
    let token = alice.token.clone().expect("token");
    request.headers_mut().insert(
        "cookie",
        format!("confab_session={token}").parse().expect("header"),
    );
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!(
            "cross-site upgrade must be refused, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }

    // The browser's own origin with the cookie is fine.
    let mut request = ws_url(&server.base).into_client_request().expect("request");
    request.headers_mut().insert(
        "cookie",
        format!("confab_session={token}").parse().expect("header"),
    );
    request
        .headers_mut()
        .insert("origin", server.base.parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("same-origin upgrade");
    futures_util::SinkExt::close(&mut socket)
        .await
        .expect("close");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_the_same_messages_in_the_same_order_with_presence_and_acks() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = alice.create_room("lobby").await;
    alice.post_message(&room, "before anyone joined").await;

    let mut a = alice.ws().await;
    let (joined, backlog) = a.join(&room, None, 1).await;
    assert_eq!(joined["room"]["id"], room.as_str());
    assert_eq!(joined["room"]["name"], "lobby");
    assert_eq!(joined["online"], json!(["alice"]));
    assert_eq!(backlog[0]["body"], "before anyone joined");

    let mut b = bob.ws().await;
    let (joined, _) = b.join(&room, None, 1).await;
    assert_eq!(joined["online"], json!(["alice", "bob"]));
    let presence = a.recv_type("presence").await;
    assert_eq!(
        presence,
        json!({"type": "presence", "room": room, "user": "bob", "online": true})
    );

    a.send_json(json!({"type": "ping"})).await;
    assert_eq!(a.recv().await, json!({"type": "pong"}));

    for i in 0..20 {
        let (ws, nonce) = if i % 2 == 0 {
            (&mut a, format!("a{i}"))
        } else {
            (&mut b, format!("b{i}"))
        };
        ws.send_json(
            json!({"type": "send", "room": room, "body": format!("m{i}"), "nonce": nonce}),
        )
        .await;
    }
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    while seen_a.len() < 20 {
        let frame = a.recv_type("message").await;
        if let Some(nonce) = frame["nonce"].as_str() {
            assert!(
                nonce.starts_with('a'),
                "only the sender's copy carries its nonce"
            );
        }
        seen_a.push(frame["message"].clone());
    }
    while seen_b.len() < 20 {
        let frame = b.recv_type("message").await;
        if let Some(nonce) = frame["nonce"].as_str() {
            assert!(nonce.starts_with('b'));
        }
        seen_b.push(frame["message"].clone());
    }
    assert_eq!(seen_a, seen_b, "same order, no duplicates, no gaps");
    common::assert_ids_increase(&seen_a, "ids increase in delivery order");
    let message = seen_a
        .iter()
        .find(|m| m["body"] == "m0")
        .expect("m0 delivered");
    assert_eq!(message["author"], "alice");
    assert_eq!(message["room"], room.as_str());
    assert!(message["sent_at"].is_string());

    // Typing goes to the others only.
    b.send_json(json!({"type": "typing", "room": room})).await;
    assert_eq!(
        a.recv_type("typing").await,
        json!({"type": "typing", "room": room, "user": "bob"})
    );
    b.expect_none_of("typing", Duration::from_millis(200)).await;

    b.send_json(json!({"type": "leave", "room": room})).await;
    let presence = a.recv_type("presence").await;
    assert_eq!(presence["online"], false);
    assert_eq!(presence["user"], "bob");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_frames_and_the_connection_stays_usable() {
    let server = TestServer::start_with(|c| {
        c.limits.max_frame_bytes = 2048;
        c.limits.sends_per_second = 1;
        c.limits.send_burst = 3;
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("errors").await;
    let mut ws = alice.ws().await;

    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "bad_request"),
        (json!({"type": "dance"}).to_string(), "bad_request"),
        (json!({"type": "join"}).to_string(), "bad_request"),
        (
            json!({"type": "join", "room": 42}).to_string(),
            "bad_request",
        ),
        (
            json!({"type": "join", "room": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}).to_string(),
            "not_found",
        ),
        (
            json!({"type": "join", "room": room, "after": "nope"}).to_string(),
            "bad_request",
        ),
        (
            json!({"type": "send", "room": room, "body": "hi"}).to_string(),
            "not_joined",
        ),
        (
            json!({"type": "typing", "room": room}).to_string(),
            "not_joined",
        ),
        (
            json!({"type": "send", "room": room, "body": "x".repeat(3000)}).to_string(),
            "too_large",
        ),
    ];
    for (frame, code) in cases {
        ws.send_text(frame.clone()).await;
        let answer = ws.recv().await;
        assert_eq!(answer["type"], "error", "{frame}");
        assert_eq!(answer["code"], code, "{frame}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    futures_util::SinkExt::send(
        &mut ws.socket,
        tokio_tungstenite::tungstenite::Message::binary(vec![1, 2, 3]),
    )
    .await
    .expect("binary");
    assert_eq!(ws.recv().await["code"], "bad_request");

    ws.join(&room, None, 0).await;
    ws.send_json(json!({"type": "send", "room": room, "body": "   ", "nonce": "blank"}))
        .await;
    let answer = ws.recv_type("error").await;
    assert_eq!(
        (answer["code"].as_str(), answer["nonce"].as_str()),
        (Some("invalid_body"), Some("blank"))
    );

    // The burst is 3 sends; the next ones within the second are refused with rate_limited.
    let mut ws = alice.ws().await;
    ws.join(&room, None, 0).await;
    let mut codes = Vec::new();
    for i in 0..6 {
        ws.send_json(json!({"type": "send", "room": room, "body": format!("burst {i}"), "nonce": format!("r{i}")})).await;
    }
    let mut acked = 0;
    while acked + codes.len() < 6 {
        let frame = ws.recv().await;
        match frame["type"].as_str() {
            Some("message") => acked += 1,
            Some("error") => codes.push(frame["code"].as_str().unwrap_or_default().to_string()),
            _ => {}
        }
    }
    assert!(acked >= 2, "the burst goes through");
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");

    ws.send_json(json!({"type": "ping"})).await;
    assert_eq!(
        ws.recv_type("pong").await["type"],
        "pong",
        "still usable after all that"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_nonce_is_stored_once_and_acknowledged_with_the_original() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("retries").await;
    let mut first = alice.ws().await;
    first.join(&room, None, 0).await;
    first
        .send_json(json!({"type": "send", "room": room, "body": "hello", "nonce": "abc"}))
        .await;
    let ack = first.recv_type("message").await;
    assert_eq!(ack["nonce"], "abc");
    drop(first);

    // The connection dropped before the client saw the ack; it reconnects and retries.
    let mut second = alice.ws().await;
    second
        .join(&room, Some(ack["message"]["id"].as_str().expect("id")), 0)
        .await;
    second
        .send_json(json!({"type": "send", "room": room, "body": "hello", "nonce": "abc"}))
        .await;
    let retry_ack = second.recv_type("message").await;
    assert_eq!(retry_ack["nonce"], "abc");
    assert_eq!(
        retry_ack["message"], ack["message"],
        "the original message, same id"
    );
    let (_, history) = alice.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(history["messages"].as_array().expect("messages").len(), 1);
    server.stop().await;
}

/// Retries that arrive while the original is still on its way to disk (not yet in the store)
/// must find it too: every answer carries the one original, and the room holds it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_racing_the_original_to_disk_are_stored_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("racing retries").await;
    let mut ws = alice.ws().await;
    ws.join(&room, None, 0).await;
    let path = format!("/api/rooms/{room}/messages");
    let body = json!({"body": "once", "nonce": "same"});
    for _ in 0..5 {
        ws.send_json(json!({"type": "send", "room": room, "body": "once", "nonce": "same"}))
            .await;
    }
    let posts = futures_util::future::join_all((0..20).map(|_| alice.post(&path, body.clone())));
    let mut ids = std::collections::HashSet::new();
    for (status, message) in posts.await {
        assert!(status.is_success(), "{status} {message}");
        ids.insert(message["id"].as_str().expect("id").to_string());
    }
    for _ in 0..5 {
        let ack = ws.recv_type("message").await;
        if ack["nonce"] == "same" {
            ids.insert(ack["message"]["id"].as_str().expect("id").to_string());
        }
    }
    assert_eq!(
        ids.len(),
        1,
        "every retry answered with the original: {ids:?}"
    );
    let (_, history) = alice.get(&path).await;
    assert_eq!(history["messages"].as_array().expect("messages").len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_with_after_replays_exactly_what_was_missed() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = alice.create_room("replay").await;
    let mut b = bob.ws().await;
    b.join(&room, None, 0).await;
    for i in 0..3 {
        alice.post_message(&room, &format!("seen {i}")).await;
    }
    let mut last_seen = String::new();
    for _ in 0..3 {
        last_seen = b.recv_type("message").await["message"]["id"]
            .as_str()
            .expect("id")
            .to_string();
    }
    drop(b);
    for i in 0..260 {
        alice.post_message(&room, &format!("missed {i}")).await;
    }
    let mut b = bob.ws().await;
    let (_, replay) = b.join(&room, Some(&last_seen), 260).await;
    let bodies: Vec<String> = replay
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_string())
        .collect();
    assert_eq!(
        bodies,
        (0..260).map(|i| format!("missed {i}")).collect::<Vec<_>>()
    );
    alice.post_message(&room, "live again").await;
    assert_eq!(
        b.recv_type("message").await["message"]["body"],
        "live again",
        "no duplicate, then live"
    );

    // Without `after`, the newest 50.
    let mut fresh = bob.ws().await;
    let (_, newest) = fresh.join(&room, None, 50).await;
    assert_eq!(newest.last().expect("last")["body"], "live again");
    assert_eq!(newest.first().expect("first")["body"], "missed 211");
    fresh
        .expect_none_of("message", Duration::from_millis(200))
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_posts_reach_websocket_subscribers_and_deleted_rooms_are_announced() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("bridge").await;
    let mut ws = alice.ws().await;
    ws.join(&room, None, 0).await;
    let posted = alice.post_message(&room, "from a bot").await;
    let frame = ws.recv_type("message").await;
    assert_eq!(frame["message"], posted, "delivered exactly as stored");
    assert!(frame.get("nonce").is_none());

    assert_eq!(
        alice.delete(&format!("/api/rooms/{room}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ws.recv_type("room_deleted").await,
        json!({"type": "room_deleted", "room": room})
    );
    ws.send_json(json!({"type": "send", "room": room, "body": "anyone?"}))
        .await;
    assert_eq!(ws.recv_type("error").await["code"], "not_found");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_closed_as_lagged_without_slowing_the_room() {
    // Large frames fill the sleeper's socket buffers, then its queue. The sender is a member
    // too: it keeps getting every acknowledgement while the sleeper falls behind.
    let mut firehose = common::Firehose::start().await;
    firehose.send_until_sleeper_is_cut_off().await;
    let common::Firehose {
        server,
        mut sleeper,
        ..
    } = firehose;
    let hub = server.state().chat.hub();
    assert_eq!(hub.subscription_count(), 1, "only the sleeper was dropped");
    assert_eq!(sleeper.closed_with().await, Some(confab::ws::CLOSE_LAGGED));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_websockets_with_1001() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut ws: Ws = alice.ws().await;
    ws.send_json(json!({"type": "ping"})).await;
    ws.recv_type("pong").await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(ws.closed_with().await, Some(1001));
    stopping.await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_closes_the_sockets_of_that_session_only() {
    let server = TestServer::start().await;
    let phone = server.user("alice").await;
    let mut laptop = server.client();
    let (_, body) = laptop
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": common::PASSWORD}),
        )
        .await;
    laptop.token = Some(body["token"].as_str().expect("token").to_string());
    let mut phone_socket = phone.ws().await;
    let mut laptop_socket = laptop.ws().await;
    assert_eq!(
        phone.post("/api/auth/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        phone_socket.closed_with().await,
        Some(confab::ws::CLOSE_REVOKED)
    );
    laptop_socket.send_json(json!({"type": "ping"})).await;
    assert_eq!(
        laptop_socket.recv_type("pong").await["type"],
        "pong",
        "the other session stays"
    );
    server.stop().await;
}

/// The opening handshake is checked before anything is upgraded: each request that is not a
/// valid RFC 6455 handshake gets 400 `bad_request`, and a valid one (in any letter case, with
/// `Connection` listing more than `upgrade`) gets 101 with the accept key of its nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_handshakes_are_refused_and_valid_ones_accepted() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let valid = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let handshake = |replace: Option<(&'static str, &'static str)>, drop: Option<&str>| {
        let mut request = reqwest::Client::new().get(format!("{}/api/ws", server.base));
        for (name, value) in valid {
            if drop == Some(name) {
                continue;
            }
            let value = match replace {
                Some((replaced, other)) if replaced == name => other,
                _ => value,
            };
            request = request.header(name, value);
        }
        alice.send(request)
    };
    for (what, replace, drop) in [
        ("no upgrade header", None, Some("upgrade")),
        ("no connection header", None, Some("connection")),
        ("no key", None, Some("sec-websocket-key")),
        ("no version", None, Some("sec-websocket-version")),
        ("another protocol", Some(("upgrade", "h2c")), None),
        (
            "connection without upgrade",
            Some(("connection", "keep-alive")),
            None,
        ),
        ("version 8", Some(("sec-websocket-version", "8")), None),
        (
            "short key",
            Some(("sec-websocket-key", "dGhlIHNhbXBsZQ==")),
            None,
        ),
        (
            "key not base64",
            Some(("sec-websocket-key", "dGhlIHNhbXBsZS*ub25jZQ==")),
            None,
        ),
    ] {
        let (status, body) = handshake(replace, drop).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(error_code(&body), "bad_request", "{what}");
    }

    let response = reqwest::Client::new()
        .get(format!("{}/api/ws", server.base))
        .bearer_auth(alice.token.as_deref().expect("token"))
        .headers(
            valid
                .iter()
                .map(|(name, value)| (name.parse().expect("name"), value.parse().expect("value")))
                .collect(),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        response.headers()["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    server.stop().await;
}

/// A burst far larger than any write buffer (a 400-message backlog, page by page) arrives whole
/// and in order, a client frame many times the read buffer is read whole, and the connection
/// goes on working after both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_arrive_whole_and_in_order() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("burst").await;
    let long = "x".repeat(2000);
    for i in 0..400 {
        alice.post_message(&room, &format!("{i:03} {long}")).await;
    }
    let mut socket = alice.ws().await;
    let (_, backlog) = socket.join(&room, Some("0000000000000000"), 400).await;
    assert_eq!(backlog.len(), 400);
    for (i, message) in backlog.iter().enumerate() {
        let body = message["body"].as_str().expect("body");
        assert!(
            body.starts_with(&format!("{i:03} ")),
            "message {i} in order"
        );
        assert_eq!(body.len(), 4 + long.len());
    }
    // A client frame many times the read buffer arrives whole too.
    let big = "y".repeat(3990);
    socket
        .send_json(json!({"type": "send", "room": room, "body": big, "nonce": "big"}))
        .await;
    let ack = socket.recv_type("message").await;
    assert_eq!(ack["nonce"], "big");
    assert_eq!(ack["message"]["body"], big.as_str());
    // The send's own room_activity notice may come before or after the pong.
    socket.send_json(json!({"type": "ping"})).await;
    assert_eq!(socket.recv_type("pong").await, json!({"type": "pong"}));
    server.stop().await;
}
