//! The security checklist against a real server: connection limits per user and per address,
//! 1,000 abruptly dropped connections leaving nothing behind, session expiry, and an
//! authorization matrix over every route of the published API.
//!
//! Other checklist points are proven elsewhere (see docs/security.md): cookie flags, CSRF and
//! security headers in tests/api.rs, the WebSocket origin check in tests/ws.rs, revocation of
//! open sockets in tests/admin.rs.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{error_code, ws_url, TestServer};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

type Raw = WebSocketStream<TcpStream>;

/// The thousand-connection test measures the process's RSS and runtime tasks, which the other
/// tests of this file (argon2 hashes, servers) would disturb: it runs alone, the others
/// together.
static RSS_MEASURED: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// Another loopback address: the kernel routes all of 127/8 to lo, so a client bound here is a
/// second "client address" for the server.
const OTHER_LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Opens a WebSocket from `source` with a bearer `token`. A refused upgrade gives its status and
/// JSON body. Small client buffers, so that a thousand of them stay cheap in the test process.
async fn connect_from(
    server: &TestServer,
    source: IpAddr,
    token: &str,
) -> Result<Raw, (StatusCode, Value)> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    let stream = socket.connect(server.addr).await.expect("tcp connect");
    let mut request = ws_url(&server.base).into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
            let body = response
                .body()
                .as_deref()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or(Value::Null);
            Err((status, body))
        }
        Err(other) => panic!("websocket handshake failed: {other}"),
    }
}

async fn connect(server: &TestServer, token: &str) -> Raw {
    connect_from(server, LOCAL, token)
        .await
        .unwrap_or_else(|(status, body)| panic!("upgrade refused: {status} {body}"))
}

/// Asserts the upgrade is refused with 429 `too_many_connections` and a Retry-After.
async fn assert_refused(server: &TestServer, source: IpAddr, token: &str) {
    match connect_from(server, source, token).await {
        Ok(_) => panic!("a connection over the limit was accepted"),
        Err((status, body)) => {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
            assert_eq!(error_code(&body), "too_many_connections");
        }
    }
}

/// Retries until a connection from `source` is accepted again: the server frees a slot when
/// the session task ends, a moment after the client let go.
async fn connect_eventually(server: &TestServer, source: IpAddr, token: &str) -> Raw {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect_from(server, source, token).await {
            Ok(socket) => return socket,
            Err((status, body)) => {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
                assert!(Instant::now() < deadline, "the slot was never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Joins `room` and waits for the `joined` frame.
async fn join(socket: &mut Raw, room: &str) {
    let frame = json!({"type": "join", "room": room}).to_string();
    socket.send(Message::text(frame)).await.expect("send join");
    loop {
        let frame = tokio::time::timeout(common::WAIT, socket.next())
            .await
            .expect("joined within the wait")
            .expect("socket open")
            .expect("frame ok");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(text.as_str()).expect("json frame");
            if value["type"] == "joined" {
                return;
            }
            assert_ne!(value["type"], "error", "join failed: {value}");
        }
    }
}

/// Drops a socket the rude way: no close frame, and with `reset` an RST instead of a FIN.
fn drop_abruptly(socket: Raw, reset: bool) {
    if reset {
        socket.get_ref().set_zero_linger().expect("SO_LINGER 0");
    }
    drop(socket);
}

fn token(client: &common::Client) -> String {
    client.token.clone().expect("token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_user_are_limited_and_freed_when_a_socket_closes() {
    let _shared = RSS_MEASURED.read().await;
    let server = TestServer::start_with(|c| {
        c.limits.max_connections_per_user = 3;
        c.limits.max_connections_per_ip = 100;
    })
    .await;
    let alice = token(&server.user("alice").await);
    let bob = token(&server.user("bob").await);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect(&server, &alice).await);
    }
    assert_refused(&server, LOCAL, &alice).await;
    assert_refused(&server, OTHER_LOCAL, &alice).await;
    // The limit is alice's, not the address's: bob still gets in.
    let bob_socket = connect(&server, &bob).await;

    // A cleanly closed socket frees its slot...
    let mut first = open.remove(0);
    first.close(None).await.expect("close");
    open.push(connect_eventually(&server, LOCAL, &alice).await);
    assert_refused(&server, LOCAL, &alice).await;
    // ...and so does one dropped without a close frame.
    drop_abruptly(open.remove(0), true);
    open.push(connect_eventually(&server, LOCAL, &alice).await);

    // Handshakes abandoned half-way hold no slot either.
    drop_abruptly(open.remove(0), false);
    for _ in 0..3 {
        let mut raw = TcpStream::connect(server.addr).await.expect("tcp");
        let request = format!(
            "GET /api/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Authorization: Bearer {alice}\r\n\r\n",
            server.addr
        );
        tokio::io::AsyncWriteExt::write_all(&mut raw, request.as_bytes())
            .await
            .expect("write request");
        drop(raw);
    }
    open.push(connect_eventually(&server, LOCAL, &alice).await);
    assert_eq!(open.len(), 3);
    drop(bob_socket);
    drop(open);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_limited_whoever_is_logged_in() {
    let _shared = RSS_MEASURED.read().await;
    let server = TestServer::start_with(|c| {
        c.limits.max_connections_per_user = 100;
        c.limits.max_connections_per_ip = 3;
    })
    .await;
    let alice = token(&server.user("alice").await);
    let bob = token(&server.user("bob").await);
    let carol = token(&server.user("carol").await);
    let mut open = vec![
        connect(&server, &alice).await,
        connect(&server, &alice).await,
        connect(&server, &bob).await,
    ];
    assert_refused(&server, LOCAL, &carol).await;
    assert_refused(&server, LOCAL, &alice).await;
    // Another address has its own allowance.
    let elsewhere = connect_from(&server, OTHER_LOCAL, &carol)
        .await
        .expect("another address is not affected");
    drop_abruptly(open.remove(2), false);
    open.push(connect_eventually(&server, LOCAL, &carol).await);
    assert_refused(&server, LOCAL, &bob).await;
    drop(elsewhere);
    drop(open);
    server.stop().await;
}

/// `VmRSS` of this process (server and clients together), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

async fn connection_gauge(server: &TestServer) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|line| line.strip_prefix("confab_websocket_connections "))
        .expect("gauge in the scrape")
        .parse()
        .expect("number")
}

/// Opens `count` authenticated sockets joined to `room`, a few dozen handshakes at a time.
async fn open_joined(server: &TestServer, token: &str, room: &str, count: usize) -> Vec<Raw> {
    futures_util::stream::iter(0..count)
        .map(|_| async {
            let mut socket = connect(server, token).await;
            join(&mut socket, room).await;
            socket
        })
        .buffer_unordered(32)
        .collect()
        .await
}

/// Waits until the gauge, the hub's registry and its room subscriptions are all back to zero.
async fn wait_until_all_closed(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let hub = server.state().chat.hub();
    loop {
        let gauge = connection_gauge(server).await;
        let (registered, subscribed) = (hub.connections().count(), hub.subscription_count());
        if gauge == 0.0 && registered == 0 && subscribed == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: gauge {gauge}, registered {registered}, subscribed {subscribed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_abruptly_dropped_connections_leave_nothing_behind() {
    let _alone = RSS_MEASURED.write().await;
    const N: usize = 1000;
    let server = TestServer::start_with(|c| {
        // Exactly N, so the second round also proves every slot of the first came back.
        c.limits.max_connections_per_user = N;
        c.limits.max_connections_per_ip = N;
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("crowd").await;
    let token = token(&alice);
    let runtime = tokio::runtime::Handle::current().metrics();
    let tasks_before = runtime.num_alive_tasks();
    let started = Instant::now();
    let rss_before = rss_kib();
    let mut rss = Vec::new();

    for round in 0..2 {
        let sockets = open_joined(&server, &token, &room, N).await;
        assert_eq!(server.state().chat.hub().connections().count(), N);
        assert_eq!(connection_gauge(&server).await, N as f64);
        assert_refused(&server, LOCAL, &token).await;
        rss.push(rss_kib());
        // Half reset, half closed with a FIN; none says goodbye at the WebSocket level.
        for (i, socket) in sockets.into_iter().enumerate() {
            drop_abruptly(socket, i % 2 == 0);
        }
        wait_until_all_closed(&server).await;
        eprintln!(
            "round {round}: {N} opened, joined and dropped in {:?}; RSS at peak {} MiB",
            started.elapsed(),
            rss[round] / 1024
        );
    }

    // No task per connection survives: the runtime is back to where it was (a little slack
    // for the HTTP connections of the scrapes, which close on their own schedule).
    let deadline = Instant::now() + Duration::from_secs(10);
    while runtime.num_alive_tasks() > tasks_before + 8 {
        assert!(
            Instant::now() < deadline,
            "tasks leaked: {} alive, {tasks_before} before",
            runtime.num_alive_tasks()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Memory freed by the first round is reused by the second: a per-connection leak would add
    // the connections' whole footprint again, and the second peak would be far above the first.
    let footprint = rss[0].saturating_sub(rss_before);
    eprintln!("RSS before {rss_before} KiB, peaks {rss:?} KiB; {N} connections ~{footprint} KiB");
    assert!(
        rss[1] < rss[0] + footprint / 2,
        "RSS grew from {} to {} KiB between two identical rounds ({footprint} KiB for the first)",
        rss[0],
        rss[1]
    );
    // The server is still fully usable.
    let mut socket = connect(&server, &token).await;
    join(&mut socket, &room).await;
    drop(socket);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_after_the_idle_timeout_and_the_absolute_lifetime() {
    let _shared = RSS_MEASURED.read().await;
    // Idle: a token unused for longer than the idle timeout is refused.
    let server = TestServer::start_with(|c| {
        c.auth.session_idle_timeout = Duration::from_secs(1);
        c.auth.session_lifetime = Duration::from_secs(3600);
    })
    .await;
    let alice = server.user("alice").await;
    let since = Instant::now();
    let (status, _) = alice.get("/api/auth/me").await;
    assert!(
        since.elapsed() < Duration::from_millis(900),
        "test too slow"
    );
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = alice.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "idle session refused");
    assert_eq!(error_code(&body), "unauthorized");
    match connect_from(&server, LOCAL, &token(&alice)).await {
        Err((status, _)) => assert_eq!(status, StatusCode::UNAUTHORIZED),
        Ok(_) => panic!("an expired session opened a WebSocket"),
    }
    server.stop().await;

    // Lifetime: however active, a session ends this long after login.
    let server = TestServer::start_with(|c| {
        c.auth.session_idle_timeout = Duration::from_secs(3600);
        c.auth.session_lifetime = Duration::from_secs(2);
    })
    .await;
    let alice = server.user("alice").await;
    // The server's clock started before register returned, so its session age is at least
    // `since.elapsed()`: a 401 is certain from 2 s on, a 200 below ~1 s.
    let since = Instant::now();
    while since.elapsed() < Duration::from_millis(800) {
        let (status, body) = alice.get("/api/auth/me").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(2000).saturating_sub(since.elapsed())).await;
    let (status, body) = alice.get("/api/auth/me").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "session past its lifetime refused"
    );
    assert_eq!(error_code(&body), "unauthorized");
    server.stop().await;
}

/// A request to `path` of the published API with the body its operation expects.
fn request(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
) -> reqwest::RequestBuilder {
    let url = format!("{base}/api{path}");
    match method {
        "get" => client.get(url),
        "delete" => client.delete(url),
        "post" => {
            let body = if path.ends_with("/messages") {
                json!({"body": "hello"})
            } else if path.ends_with("/rooms") {
                json!({"name": "a room"})
            } else {
                json!({})
            };
            client.post(url).json(&body)
        }
        "put" => client.put(url),
        "patch" => client.patch(url).json(&json!({"topic": "changed"})),
        other => panic!("the API grew a {other} route: add it here"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_missing_forged_and_logged_out_credentials() {
    let _shared = RSS_MEASURED.read().await;
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("private").await;
    let message = alice.post_message(&room, "before").await;
    let alice_token = token(&alice);
    // A second session of alice, logged out: its token must be dead everywhere.
    let (status, body) = server
        .client()
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let logged_out = body["token"].as_str().expect("token").to_string();
    let mut session = server.client();
    session.token = Some(logged_out.clone());
    assert_eq!(
        session.post("/api/auth/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );

    // Every operation the API publishes, from its own description: a route added later is
    // covered without touching this test.
    let (_, spec) = server.client().get("/api/openapi.json").await;
    let mut protected = Vec::new();
    let mut public = Vec::new();
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            let path = path.replace("{id}", &room);
            if secured {
                protected.push((method.clone(), path));
            } else {
                public.push(format!("{method} {path}"));
            }
        }
    }
    public.sort();
    assert_eq!(
        public,
        [
            "post /auth/login",
            "post /auth/register",
            "post /hooks/{secret}"
        ],
        "only sign-up, login and an incoming webhook's secret URL may be called without a session"
    );
    // The webhook URL's secret is its credential: a made-up one is refused.
    let (status, _) = server
        .client()
        .post(
            &format!("/api/hooks/cfh_{}", "A".repeat(43)),
            serde_json::json!({"text": "hi"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    assert!(protected.len() >= 8, "{protected:?}");

    let http = reqwest::Client::new();
    let credentials: [(&str, Option<(&str, String)>); 5] = [
        ("no credentials", None),
        ("a forged token", Some(("bearer", "A".repeat(43)))),
        ("an oversized token", Some(("bearer", "A".repeat(4096)))),
        ("a logged-out token", Some(("bearer", logged_out.clone()))),
        ("a logged-out cookie", Some(("cookie", logged_out.clone()))),
    ];
    for (what, credential) in &credentials {
        for (method, path) in &protected {
            let mut builder = request(&http, &server.base, method, path);
            match credential {
                Some(("bearer", token)) => builder = builder.bearer_auth(token),
                Some((_, token)) => {
                    builder = builder.header("cookie", format!("confab_session={token}"))
                }
                None => {}
            }
            let response = builder.send().await.expect("sent");
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {what}: {body}"
            );
            assert!(
                content_type.starts_with("application/json"),
                "{method} {path}"
            );
            assert_eq!(
                error_code(&body),
                "unauthorized",
                "{method} {path} with {what}"
            );
        }
        // The WebSocket upgrade is not in the OpenAPI description; it is checked the same way.
        if let Some((_, token)) = credential.as_ref().filter(|(kind, _)| *kind == "bearer") {
            match connect_from(&server, LOCAL, token).await {
                Err((status, body)) => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "ws with {what}");
                    assert_eq!(error_code(&body), "unauthorized");
                }
                Ok(_) => panic!("a WebSocket opened with {what}"),
            }
        }
    }

    // None of those requests changed anything, and alice's own session still works.
    let (status, messages) = alice.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(status, StatusCode::OK);
    let messages = messages["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "no message was posted without a session");
    assert_eq!(messages[0]["id"], message["id"]);
    let (_, rooms) = alice.get("/api/rooms").await;
    assert_eq!(rooms["rooms"].as_array().expect("rooms").len(), 1);
    assert!(connect_from(&server, LOCAL, &alice_token).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_closed_after_the_idle_timeout() {
    let _shared = RSS_MEASURED.read().await;
    let server =
        TestServer::start_with(|c| c.limits.ws_idle_timeout = Duration::from_secs(1)).await;
    let alice = server.user("alice").await;
    // A client that reads nothing also answers no ping: to the server it is silent, like the
    // far end of a half-open TCP connection.
    let mut silent = alice.ws().await;
    // One that reads answers the server's pings (tungstenite does it) and stays open.
    let mut lively = alice.ws().await;
    let since = Instant::now();
    while since.elapsed() < Duration::from_millis(1800) {
        lively.expect_silence(Duration::from_millis(100)).await;
    }
    let hub = server.state().chat.hub();
    let deadline = Instant::now() + Duration::from_secs(5);
    while hub.connections().count() != 1 {
        assert!(
            Instant::now() < deadline,
            "the silent socket was not reaped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lively.send_json(json!({"type": "ping"})).await;
    assert_eq!(lively.recv_type("pong").await["type"], "pong", "still open");
    // The close frame (1001 "idle timeout") may be lost: the pongs this client queues for the
    // pings it now reads hit a closed socket, and the RST can discard the unread close frame.
    let code = silent.closed_with().await;
    assert!(matches!(code, Some(1001) | None), "{code:?}");
    drop(lively);
    wait_until_all_closed(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_per_connection_are_limited_and_typing_is_throttled() {
    let _shared = RSS_MEASURED.read().await;
    let server = TestServer::start_with(|c| c.limits.rooms_per_connection = 2).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let rooms = [
        alice.create_room("one").await,
        alice.create_room("two").await,
        alice.create_room("three").await,
    ];
    let mut ws = alice.ws().await;
    ws.join(&rooms[0], None, 0).await;
    ws.join(&rooms[1], None, 0).await;
    ws.send_json(json!({"type": "join", "room": rooms[2]}))
        .await;
    let refused = ws.recv_type("error").await;
    assert_eq!(refused["code"], "too_many_rooms", "{refused}");
    ws.send_json(json!({"type": "leave", "room": rooms[0]}))
        .await;
    ws.join(&rooms[2], None, 0).await;

    // Typing notices: at most one per second per connection reaches the others.
    let mut other = bob.ws().await;
    other.join(&rooms[2], None, 0).await;
    for _ in 0..10 {
        other
            .send_json(json!({"type": "typing", "room": rooms[2]}))
            .await;
    }
    other.send_json(json!({"type": "ping"})).await;
    other.recv_type("pong").await;
    let mut typing = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.socket.next()).await {
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(text.as_str()).expect("json");
            if value["type"] == "typing" {
                typing += 1;
            }
        }
    }
    assert_eq!(typing, 1, "a burst of typing notices is delivered once");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_control_socket_and_backups_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let _shared = RSS_MEASURED.read().await;
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_path_buf();
    let server = TestServer::start_with(|c| {
        c.backup.every = Duration::from_secs(1);
        c.backup.dir = Some(dir.clone());
    })
    .await;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&server.data), 0o700, "data directory");
    assert_eq!(
        mode(&server.data.join(confab::admin::SOCKET_NAME)),
        0o600,
        "control socket: whoever can connect to it administers the server"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let backup = loop {
        let found = std::fs::read_dir(&dir)
            .expect("backup dir")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| path.extension().is_some_and(|ext| ext == "backup"));
        if let Some(path) = found {
            break path;
        }
        assert!(Instant::now() < deadline, "no scheduled backup appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mode(&backup), 0o600, "backups hold password hashes");
    server.stop().await;
}
