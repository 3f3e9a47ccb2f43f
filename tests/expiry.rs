//! Rooms expire: hidden from every read at once, then deleted by the sweeper with their
//! messages, and the schedule survives a restart.

mod common;

use std::time::Duration;

use common::{error_code, TestServer};
use confab::store::Store;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_room_vanishes_from_every_read_before_any_sweep() {
    let server = TestServer::start_with(|c| {
        c.rooms.ttl = Duration::from_secs(1);
        c.rooms.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("ephemeral").await;
    alice.post_message(&room, "soon gone").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (status, body) = alice.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    let (_, list) = alice.get("/api/rooms").await;
    assert_eq!(list["rooms"], json!([]));
    assert_eq!(
        alice.get(&format!("/api/rooms/{room}/messages")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = alice
        .post(
            &format!("/api/rooms/{room}/messages"),
            json!({"body": "late"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut ws = alice.ws().await;
    ws.send_json(json!({"type": "join", "room": room})).await;
    assert_eq!(ws.recv_type("error").await["code"], "not_found");
    // Its name is free for a new room right away.
    alice.create_room("ephemeral").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_expired_rooms_with_their_messages_and_tells_subscribers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), |c| {
        c.rooms.ttl = Duration::from_secs(2);
        c.rooms.sweep_interval = Duration::from_millis(200);
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("short-lived").await;
    for i in 0..30 {
        alice.post_message(&room, &format!("m{i}")).await;
    }
    let mut ws = alice.ws().await;
    ws.join(&room, None, 30).await;
    let deleted = ws.recv_type("room_deleted").await;
    assert_eq!(deleted["room"], room.as_str());
    server.stop().await;

    let store = Store::open(dir.path(), 16).expect("reopen");
    assert_eq!(store.room_count().expect("count"), 0, "room record deleted");
    assert_eq!(store.message_count().expect("count"), 0, "messages deleted");
    assert!(
        store.expired_rooms(u64::MAX, 10).expect("index").is_empty(),
        "expiry index cleaned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_no_expiry_schedule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), |c| {
        c.rooms.ttl = Duration::from_secs(1);
        c.rooms.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("outlives-its-server").await;
    alice.post_message(&room, "hello").await;
    let keeper = alice.create_room("placeholder").await;
    server.stop().await;
    assert_eq!(
        Store::open(dir.path(), 16)
            .expect("open")
            .room_count()
            .expect("count"),
        2
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The new server has a long TTL for new rooms; the old rooms keep their own expiry time.
    let server = TestServer::start_in(dir.path(), |c| {
        c.rooms.ttl = Duration::from_secs(3600);
        c.rooms.sweep_interval = Duration::from_millis(100);
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.stop().await;
    let store = Store::open(dir.path(), 16).expect("reopen");
    assert_eq!(
        store.room_count().expect("count"),
        0,
        "both rooms swept after the restart ({room}, {keeper})"
    );
    assert_eq!(store.message_count().expect("count"), 0);
}
