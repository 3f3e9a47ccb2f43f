//! Security checks that tests/security.rs (already long) leaves out: each login throttle key on
//! its own, login timing for unknown users, the password hashing queue, and the WebSocket
//! hard frame cap.
//!
//! The server keys throttles and connection counts on the TCP peer address (it trusts no
//! `X-Forwarded-For`), so a client bound to another loopback address (127.0.0.x; the kernel
//! routes all of 127/8 to lo) is another client address.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{error_code, TestServer, PASSWORD};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// An HTTP client whose requests come from 127.0.0.`last`.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .expect("client")
}

struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<String>,
}

async fn login(http: &reqwest::Client, server: &TestServer, user: &str, password: &str) -> Answer {
    let response = http
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("login sent");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.json().await.expect("json");
    Answer {
        status,
        body,
        retry_after,
    }
}

fn assert_throttled(answer: &Answer, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        answer.body
    );
    assert_eq!(error_code(&answer.body), "rate_limited", "{what}");
    assert!(answer.retry_after.is_some(), "{what}: Retry-After");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_username_throttle_blocks_a_name_from_every_address_and_nothing_else() {
    let server = TestServer::start_with(|c| c.auth.login_max_failures = 3).await;
    server.user("alice").await;
    server.user("bob").await;
    // Three failures for alice, each from its own address: no address reaches the limit.
    for last in 2..=4 {
        let answer = login(&client_from(last), &server, "alice", "wrong-password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
    // Alice is now refused from a fresh address, even with her password...
    let fresh = client_from(5);
    let answer = login(&fresh, &server, "alice", PASSWORD).await;
    assert_throttled(&answer, "alice from a fresh address");
    // ...while that address, and the ones that failed, still serve everyone else.
    assert_eq!(
        login(&fresh, &server, "bob", PASSWORD).await.status,
        StatusCode::OK
    );
    let failed_once = client_from(2);
    assert_eq!(
        login(&failed_once, &server, "bob", PASSWORD).await.status,
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_throttle_blocks_an_address_whatever_the_name_and_nothing_else() {
    let server = TestServer::start_with(|c| c.auth.login_max_failures = 3).await;
    server.user("bob").await;
    // Three failures from one address, each for another name (two of them unknown).
    let sprayer = client_from(6);
    for user in ["bob", "carol", "dave"] {
        let answer = login(&sprayer, &server, user, "wrong-password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
    // That address is refused even for a name it never tried, with the right password...
    assert_throttled(
        &login(&sprayer, &server, "bob", PASSWORD).await,
        "bob from the spraying address",
    );
    // ...and bob, who failed only once, logs in from elsewhere.
    let elsewhere = client_from(7);
    assert_eq!(
        login(&elsewhere, &server, "bob", PASSWORD).await.status,
        StatusCode::OK
    );
    server.stop().await;
}

/// Concurrent guesses cannot all slip past the throttle before the first of them fails:
/// attempts count from the moment they are let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_get_no_more_tries_than_the_limit() {
    let server = TestServer::start_with(|c| c.auth.login_max_failures = 3).await;
    server.user("alice").await;
    let http = client_from(9);
    let burst = (0..12).map(|_| login(&http, &server, "alice", "wrong password!"));
    let answers = futures_util::future::join_all(burst).await;
    let wrong = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    for answer in answers
        .iter()
        .filter(|a| a.status != StatusCode::UNAUTHORIZED)
    {
        assert_throttled(answer, "beyond the limit");
    }
    assert_eq!(wrong, 3, "exactly login_max_failures guesses were checked");
    server.stop().await;
}

/// Sessions that expire without ever being presented again are purged by the reaper (and by
/// `confab sweep`), not kept forever; live sessions stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_purged_without_being_presented() {
    let server = TestServer::start_with(|c| {
        c.auth.session_idle_timeout = Duration::from_secs(1);
    })
    .await;
    let abandoned = server.user("alice").await;
    let accounts = server.state().accounts.clone();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let live = server.user("bob").await;
    assert_eq!(accounts.purge_expired_sessions().await.expect("purge"), 1);
    assert_eq!(accounts.purge_expired_sessions().await.expect("purge"), 0);
    let (status, _) = live.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::OK, "the live session stays");
    let (status, _) = abandoned.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// Slowloris: a connection that trickles its request headers is closed once
/// `limits.header_read_timeout` has passed, while a prompt client is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server =
        TestServer::start_with(|c| c.limits.header_read_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // One header byte every 200 ms: never idle, never done.
    let trickle = async {
        for _ in 0..50 {
            if slow.write_all(b"X-Slow: y\r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut byte = [0u8; 1];
            let probe = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await;
            if let Ok(Ok(0) | Err(_)) = probe {
                break;
            }
        }
    };
    trickle.await;
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(6),
        "cut off after about 1 s, not {held:?}"
    );
    let (status, _) = server.client().get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "prompt clients are served");
    server.stop().await;
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// An unknown username costs an argon2 verification against a decoy hash, like a wrong
/// password for a real user, so response times do not tell which usernames exist. Medians of
/// interleaved samples, and a bound loose enough for a loaded machine: without the decoy, an
/// unknown user would answer as fast as the no-hash path measured alongside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_and_wrong_passwords_take_the_same_time_and_answer_the_same() {
    let server = TestServer::start_with(|c| c.auth.login_max_failures = 1_000).await;
    server.user("alice").await;
    let http = client_from(1);
    let timed = |user: &'static str, password: String| {
        let http = http.clone();
        let server = &server;
        async move {
            let start = Instant::now();
            let answer = login(&http, server, user, &password).await;
            (start.elapsed(), answer)
        }
    };
    // Warm up the connection and the hashing pool.
    let _ = timed("alice", "wrong-password".into()).await;
    let (mut wrong, mut unknown, mut unhashed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        let (elapsed, w) = timed("alice", "wrong-password".into()).await;
        wrong.push(elapsed);
        let (elapsed, u) = timed("nobody-here", "wrong-password".into()).await;
        unknown.push(elapsed);
        assert_eq!((w.status, &w.body), (u.status, &u.body), "same answer");
        assert_eq!(w.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&w.body), "invalid_credentials");
        // A password over the length limit is refused before any hashing: the fast path.
        let (elapsed, f) = timed("alice", "x".repeat(2_000)).await;
        assert_eq!((f.status, &f.body), (w.status, &w.body), "same answer");
        unhashed.push(elapsed);
    }
    let (wrong, unknown, unhashed) = (median(wrong), median(unknown), median(unhashed));
    let ratio = wrong.max(unknown).as_secs_f64() / wrong.min(unknown).as_secs_f64();
    eprintln!(
        "median login: wrong password {wrong:?}, unknown user {unknown:?}, no hash {unhashed:?}"
    );
    assert!(
        ratio < 3.0,
        "wrong password {wrong:?} vs unknown user {unknown:?}: ratio {ratio:.2}"
    );
    assert!(
        unknown > unhashed * 3,
        "an unknown user costs a hash ({unknown:?}), unlike the no-hash path ({unhashed:?})"
    );
    server.stop().await;
}

/// One hashing slot and one waiting place: a burst of logins gets 503 `busy` for the rest at
/// once instead of queueing without bound, and the server logs in again right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_503_busy_at_once() {
    let server = TestServer::start_with(|c| {
        c.auth.hash_concurrency = 1;
        c.auth.hash_queue = 1;
        // Attempts in flight count against the address throttle; this test is about the queue.
        c.auth.login_max_failures = 1_000;
    })
    .await;
    server.user("alice").await;
    let http = client_from(1);
    let burst = (0..16).map(|_| login(&http, &server, "alice", PASSWORD));
    let answers = futures_util::future::join_all(burst).await;
    let mut ok = 0;
    let mut busy = 0;
    for answer in &answers {
        match answer.status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(error_code(&answer.body), "busy", "{}", answer.body);
                busy += 1;
            }
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert!(ok >= 1 && busy >= 1, "{ok} logged in, {busy} busy");
    assert!(
        busy <= 14,
        "at most one slot and one waiter: {ok} logged in, {busy} busy"
    );
    assert_eq!(
        login(&http, &server, "alice", PASSWORD).await.status,
        StatusCode::OK
    );
    server.stop().await;
}

/// A frame over `limits.max_frame_bytes` gets a `too_large` error frame; one over the hard cap
/// (max(4 x that, 64 KiB)) is never buffered: the connection ends at once, without a close
/// frame (docs/protocol.md), its place is given back, and the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_hard_cap_ends_the_connection_and_the_server_keeps_serving() {
    let server = TestServer::start_with(|c| c.limits.max_frame_bytes = 1024).await;
    let alice = server.user("alice").await;
    let room = alice.create_room("frames").await;
    let mut ws = alice.ws().await;
    ws.join(&room, None, 0).await;

    ws.send_text("x".repeat(2 * 1024)).await;
    assert_eq!(ws.recv().await["code"], "too_large", "over the soft limit");
    ws.send_json(json!({"type": "ping"})).await;
    assert_eq!(ws.recv_type("pong").await["type"], "pong", "still open");

    let hard_cap = 64 * 1024;
    let oversized = Message::text("x".repeat(hard_cap + 1));
    // The server may reset the connection before the client has finished writing.
    let _ = ws.socket.send(oversized).await;
    assert_eq!(ws.closed_with().await, None, "ended without a close frame");

    let hub = server.state().chat.hub();
    let deadline = Instant::now() + Duration::from_secs(5);
    while hub.connections().count() != 0 {
        assert!(
            Instant::now() < deadline,
            "the connection's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again = alice.ws().await;
    again.join(&room, None, 0).await;
    again
        .send_json(json!({"type": "send", "room": room, "body": "still here", "nonce": "n1"}))
        .await;
    let ack = again.recv_type("message").await;
    assert_eq!(ack["nonce"], "n1", "{ack}");
    server.stop().await;
}
