//! `GET /metrics` against a real server: exact counts after real REST and WebSocket traffic,
//! route templates instead of paths, and no ids anywhere in the scrape.

mod common;

use std::time::Duration;

use common::{TestServer, Ws};
use reqwest::StatusCode;
use serde_json::json;

/// Scrapes the server; asserts the answer is OpenMetrics text.
async fn scrape(server: &TestServer) -> String {
    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("scrape sent");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics scrape ends with EOF"
    );
    text
}

/// The value of the sample whose name and labels are exactly `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().expect("numeric sample"))
    })
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// Scrapes until `series` has `expected`, for values set by tasks that finish after the client
/// has its answer (a session's cleanup, the sweeper).
async fn wait_for(server: &TestServer, series: &str, expected: f64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(server).await;
        if sample(&text, series) == Some(expected) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never became {expected}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn close(mut ws: Ws) {
    ws.socket.close(None).await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_traffic_is_counted_exactly_under_route_templates() {
    // One sweep runs at start; none after it during the test.
    let server =
        TestServer::start_with(|c| c.rooms.sweep_interval = Duration::from_secs(3600)).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = alice.create_room("metered").await;
    let doomed = alice.create_room("doomed").await;

    // REST, nobody listening: stored, sent over REST, delivered to no one (its `room_activity`
    // notice, handed over once it is durable, finds nobody online: given time to, before any
    // socket opens).
    alice.post_message(&room, "one").await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let mut a = alice.ws().await;
    a.join(&room, None, 1).await;
    let mut b = bob.ws().await;
    // Joining makes bob a member: `added` to bob and `room_updated` (the member count) to
    // alice (deliveries 1, 2).
    b.join(&room, None, 1).await;
    a.recv_type("presence").await; // delivery 3: bob online, to alice

    // WebSocket send: bob's copy and alice's acknowledgement (deliveries 4, 5).
    let send = json!({"type": "send", "room": room, "body": "two", "nonce": "n1"});
    a.send_json(send.clone()).await;
    assert_eq!(a.recv_type("message").await["nonce"], "n1");
    assert_eq!(b.recv_type("message").await["message"]["body"], "two");
    // A retried nonce: acknowledged again (delivery 6), sent again, stored once.
    a.send_json(send).await;
    assert_eq!(a.recv_type("message").await["nonce"], "n1");

    // REST with both sockets joined (deliveries 7, 8).
    bob.post_message(&room, "three").await;
    assert_eq!(a.recv_type("message").await["message"]["body"], "three");
    assert_eq!(b.recv_type("message").await["message"]["body"], "three");

    // Every new message is also announced to its members' connections as `room_activity`: "two"
    // at once (the room was quiet), "three" (within 250 ms of it) on the next tick: four more
    // deliveries. The waits before and after make that count the same on any machine.
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Deleting a room tells its members (deliveries 9, 10) ...
    let (status, _) = alice.delete(&format!("/api/rooms/{room}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    a.recv_type("room_deleted").await;
    b.recv_type("room_deleted").await;
    // ... and a room nobody joined tells its member's connection (alice's, delivery 11) ...
    let (status, _) = alice.delete(&format!("/api/rooms/{doomed}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = alice.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // ... and a new room is announced to its creator's connection (delivery 12).
    let survivor = alice.create_room("survivor").await;

    let text = wait_for(&server, "confab_websocket_connections", 2.0).await;
    for (series, expected) in [
        ("confab_rooms_live", 1.0),
        ("confab_messages_stored_total", 3.0),
        ("confab_messages_sent_total{transport=\"rest\"}", 2.0),
        ("confab_messages_sent_total{transport=\"websocket\"}", 2.0),
        ("confab_deliveries_total", 16.0),
        ("confab_lagged_disconnects_total", 0.0),
        ("confab_sweep_runs_total", 1.0),
        ("confab_rooms_swept_total", 0.0),
        ("confab_backup_last_success_timestamp_seconds", 0.0),
        (
            "confab_http_requests_total{route=\"/api/auth/register\",method=\"POST\",status=\"201\"}",
            2.0,
        ),
        (
            "confab_http_requests_total{route=\"/api/rooms\",method=\"POST\",status=\"201\"}",
            3.0,
        ),
        (
            "confab_http_requests_total{route=\"/api/rooms/{id}/messages\",method=\"POST\",status=\"201\"}",
            2.0,
        ),
        (
            "confab_http_requests_total{route=\"/api/rooms/{id}/messages\",method=\"GET\",status=\"404\"}",
            1.0,
        ),
        (
            "confab_http_requests_total{route=\"/api/rooms/{id}\",method=\"DELETE\",status=\"204\"}",
            2.0,
        ),
        (
            "confab_http_requests_total{route=\"/api/ws\",method=\"GET\",status=\"101\"}",
            2.0,
        ),
        (
            "confab_http_request_duration_seconds_count{route=\"/api/rooms/{id}/messages\",method=\"POST\"}",
            2.0,
        ),
        (
            "confab_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/rooms/{id}/messages\",method=\"POST\"}",
            2.0,
        ),
    ] {
        assert_eq!(value(&text, series), expected, "{series}");
    }
    let version = format!(
        "confab_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &version), 1.0);
    for id in [&room, &doomed, &survivor] {
        assert!(!text.contains(id.as_str()), "room id {id} in the scrape");
    }
    for secret in ["alice", "bob", alice.token.as_deref().expect("token")] {
        assert!(!text.contains(secret), "{secret} in the scrape");
    }
    // The scrape counts itself once answered: the one before this one is there.
    let text = scrape(&server).await;
    assert!(
        value(
            &text,
            "confab_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"
        ) >= 1.0
    );

    close(a).await;
    close(b).await;
    wait_for(&server, "confab_websocket_connections", 0.0).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_gauge_follows_an_open_socket() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    assert_eq!(
        value(&scrape(&server).await, "confab_websocket_connections"),
        0.0
    );
    let ws = alice.ws().await;
    wait_for(&server, "confab_websocket_connections", 1.0).await;
    assert_eq!(server.state().connections_open(), 1);
    close(ws).await;
    wait_for(&server, "confab_websocket_connections", 0.0).await;
    assert_eq!(server.state().connections_open(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_backups_and_unknown_paths_are_counted() {
    let server = TestServer::start_with(|c| {
        c.rooms.ttl = Duration::from_secs(1);
        c.rooms.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("short-lived").await;
    assert_eq!(value(&scrape(&server).await, "confab_rooms_live"), 1.0);
    let text = wait_for(&server, "confab_rooms_swept_total", 1.0).await;
    assert_eq!(value(&text, "confab_rooms_live"), 0.0);
    assert!(value(&text, "confab_sweep_runs_total") >= 2.0);

    server
        .state()
        .metrics
        .record_backup_success(1_700_000_000_500);
    let text = scrape(&server).await;
    assert_eq!(
        value(&text, "confab_backup_last_success_timestamp_seconds"),
        1_700_000_000.0
    );

    // Paths no route serves share one label, whatever they are.
    for path in [
        "/wp-login.php",
        "/api/nope",
        &format!("/api/rooms/{room}/nope"),
    ] {
        let (status, _) = alice.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let text = scrape(&server).await;
    assert_eq!(
        value(
            &text,
            "confab_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"}"
        ),
        3.0
    );
    assert!(!text.contains("wp-login") && !text.contains("nope") && !text.contains(&room));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagged_subscriber_is_counted_once() {
    let mut firehose = common::Firehose::start().await;
    let sent = firehose.send_until_sleeper_is_cut_off().await;
    let common::Firehose {
        server,
        mut sleeper,
        ..
    } = firehose;
    assert_eq!(sleeper.closed_with().await, Some(confab::ws::CLOSE_LAGGED));
    let text = wait_for(&server, "confab_websocket_connections", 1.0).await;
    assert_eq!(value(&text, "confab_lagged_disconnects_total"), 1.0);
    assert_eq!(
        value(&text, "confab_messages_stored_total"),
        f64::from(sent)
    );
    assert_eq!(
        value(&text, "confab_messages_sent_total{transport=\"websocket\"}"),
        f64::from(sent)
    );
    server.stop().await;
}
