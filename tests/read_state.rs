//! Read markers, unread and mention counts and notification levels against a real server: two
//! users, two connections of one user (one joined to the room, one not), marker sync between
//! them, bad markers, and counts after a restart.

mod common;

use common::{error_code, Client, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

async fn room_of(client: &Client, room: &str) -> Value {
    let (status, body) = client.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn listed(client: &Client, room: &str) -> Value {
    let (status, body) = client.get("/api/rooms").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["id"] == room)
        .cloned()
        .expect("listed")
}

/// The room as `client` sees it, once `done` holds (within 10 s).
async fn eventually(client: &Client, room: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = room_of(client, room).await;
        if done(&seen) {
            return seen;
        }
        assert!(std::time::Instant::now() < deadline, "never: {seen}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn mark(client: &Client, room: &str, message: &str) -> (StatusCode, Value) {
    client
        .put(
            &format!("/api/rooms/{room}/read"),
            json!({ "message": message }),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_and_mention_counts_follow_the_marker_across_connections_and_restarts() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(data.path(), |_| {}).await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let room = ann.create_room("standup").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let other = ann.create_room("elsewhere").await;

    // Bob has two connections: one joined to the room, one only connected (another device).
    let mut joined = bob.ws().await;
    joined.join(&room, None, 0).await;
    let mut elsewhere = bob.ws().await;

    let first = ann.post_message(&room, "morning all").await;
    assert_eq!(first["mentions"], json!([]));
    let second = ann
        .post_message(
            &room,
            "@bob can you look? mail bob@example.org, not @nobody",
        )
        .await;
    assert_eq!(
        second["mentions"],
        json!(["bob"]),
        "members only, no e-mail"
    );
    let third = ann
        .post_message(&room, "@room standup in 5, @ann too")
        .await;
    assert_eq!(third["mentions"], json!(["room", "ann"]));
    let foreign = ann.post_message(&other, "not in standup").await;

    let seen = listed(&bob, &room).await;
    assert_eq!(seen["unread_count"], 3, "{seen}");
    assert_eq!(seen["mention_count"], 2, "{seen}");
    assert_eq!(seen["last_read"], Value::Null);
    assert_eq!(seen["last_message"]["id"], third["id"]);
    assert_eq!(
        seen["notifications"], "mentions",
        "the default outside direct rooms"
    );
    // Ann's own messages are read by her (her marker follows her sends, just after each
    // acknowledgement), and her own @ann and @room do not count for her.
    let hers = eventually(&ann, &room, |r| r["last_read"] == third["id"]).await;
    assert_eq!(hers["unread_count"], 0, "{hers}");
    assert_eq!(hers["mention_count"], 0, "{hers}");
    // Outsiders see no counts.
    let carol = server.user("carol").await;
    let theirs = room_of(&carol, &room).await;
    assert!(theirs.get("unread_count").is_none(), "{theirs}");

    // Reading on the joined connection clears the other device.
    for _ in 0..3 {
        joined.recv_type("message").await;
    }
    let second_id = second["id"].as_str().expect("id");
    joined
        .send_json(json!({"type": "read", "room": room, "message": second_id}))
        .await;
    let read = elsewhere.recv_type("read").await;
    assert_eq!(read["room"], room.as_str());
    assert_eq!(read["message"], second_id);
    joined
        .expect_none_of("read", std::time::Duration::from_millis(300))
        .await;
    let seen = room_of(&bob, &room).await;
    assert_eq!(seen["unread_count"], 1);
    assert_eq!(seen["mention_count"], 1, "@room after the marker");
    assert_eq!(seen["last_read"], second_id);

    // An older marker is accepted and ignored; the answer is the marker that stands.
    let (status, body) = mark(&bob, &room, first["id"].as_str().expect("id")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], second_id);
    // Bad markers: ids are per room, so a message of another room is an id this room lacks.
    assert_eq!(foreign["id"], first["id"], "both rooms number from 1");
    let (status, _) = bob.post_empty(&format!("/api/rooms/{other}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let third_id = third["id"].as_str().expect("id");
    for (target, bad) in [
        (&other, third_id),
        (&room, "00000000000000ff"),
        (&room, "nope"),
    ] {
        let (status, body) = mark(&bob, target, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(error_code(&body), "invalid_marker");
    }
    let (status, body) = mark(&carol, &room, second_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Notification levels.
    let (status, body) = bob
        .put(
            &format!("/api/rooms/{room}/notifications"),
            json!({"level": "all"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["level"], "all");
    let (status, body) = bob
        .put(
            &format!("/api/rooms/{room}/notifications"),
            json!({"level": "loud"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_level");
    let (status, dm) = ann.post("/api/dms", json!({"users": ["bob"]})).await;
    assert!(status.is_success(), "{dm}");
    let dm = room_of(&bob, dm["id"].as_str().expect("id")).await;
    assert_eq!(dm["notifications"], "all", "the default in direct rooms");

    // Everything survives a restart.
    drop((joined, elsewhere));
    server.stop().await;
    let server = TestServer::start_in(data.path(), |_| {}).await;
    let bob = Client {
        base: server.base.clone(),
        ..bob
    };
    let seen = room_of(&bob, &room).await;
    assert_eq!(seen["unread_count"], 1, "{seen}");
    assert_eq!(seen["mention_count"], 1);
    assert_eq!(seen["last_read"], second_id);
    assert_eq!(seen["notifications"], "all");
    // New messages after the restart keep counting from where the room was.
    let ann = Client {
        base: server.base.clone(),
        ..ann
    };
    let fourth = ann.post_message(&room, "one more").await;
    assert_eq!(room_of(&bob, &room).await["unread_count"], 2);
    let (status, _) = mark(&bob, &room, fourth["id"].as_str().expect("id")).await;
    assert_eq!(status, StatusCode::OK);
    let seen = room_of(&bob, &room).await;
    assert_eq!(
        (seen["unread_count"].clone(), seen["mention_count"].clone()),
        (json!(0), json!(0))
    );
    server.stop().await;
}

/// Every connection of every member hears `room_activity` for new messages, joined to the room
/// or not, with their own counts, at most one per room every 250 ms with the last state winning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_activity_reaches_every_connection_of_every_member_coalesced() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let room = ann.create_room("busy").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let mut joined = bob.ws().await;
    joined.join(&room, None, 0).await;
    let mut elsewhere = bob.ws().await;
    let mut author = ann.ws().await;

    // A burst: the first message is announced at once, the rest as one notice with the last
    // state (the burst takes far less than 250 ms).
    let mut last = Value::Null;
    for n in 0..10 {
        let body = if n == 9 {
            "@bob last one".to_string()
        } else {
            format!("burst {n}")
        };
        last = ann.post_message(&room, &body).await;
    }
    for connection in [&mut joined, &mut elsewhere] {
        let mut notices = Vec::new();
        loop {
            let notice = connection.recv_type("room_activity").await;
            let done = notice["last_message"]["id"] == last["id"];
            notices.push(notice);
            if done {
                break;
            }
        }
        assert!(notices.len() <= 3, "coalesced: {notices:#?}");
        let final_state = notices.last().expect("one");
        assert_eq!(final_state["room"], room.as_str());
        assert_eq!(final_state["unread_count"], 10, "{final_state}");
        assert_eq!(final_state["mention_count"], 1, "{final_state}");
        assert_eq!(final_state["last_message"]["body"], "@bob last one");
        connection
            .expect_none_of("room_activity", std::time::Duration::from_millis(400))
            .await;
    }
    // The author hears it too, with nothing unread.
    let mine = loop {
        let notice = author.recv_type("room_activity").await;
        if notice["last_message"]["id"] == last["id"] {
            break notice;
        }
    };
    assert_eq!(mine["unread_count"], 0, "{mine}");

    // After bob reads, the next message counts from there.
    let (status, _) = mark(&bob, &room, last["id"].as_str().expect("id")).await;
    assert_eq!(status, StatusCode::OK);
    let after = ann.post_message(&room, "after reading").await;
    let notice = loop {
        let notice = elsewhere.recv_type("room_activity").await;
        if notice["last_message"]["id"] == after["id"] {
            break notice;
        }
    };
    assert_eq!(notice["unread_count"], 1);
    assert_eq!(notice["mention_count"], 0);
}

/// A steady stream in two rooms: a connection hears of each room at most once per 250 ms (the
/// first message at once, then the newest state on the shared tick), and the last state wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_activity_under_a_steady_stream_is_paced_per_room() {
    use std::time::{Duration, Instant};
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let first = ann.create_room("first").await;
    let second = ann.create_room("second").await;
    for room in [&first, &second] {
        let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut watcher = bob.ws().await;
    // Read while the messages are sent, so arrival times are the server's pacing, not a
    // backlog read in one go.
    let reader = tokio::spawn(async move {
        let mut seen: HashMap<String, Vec<(Instant, Value)>> = HashMap::new();
        let until = tokio::time::Instant::now() + Duration::from_secs(4);
        while let Ok(notice) =
            tokio::time::timeout_at(until, watcher.recv_type("room_activity")).await
        {
            let room = notice["room"].as_str().expect("room").to_string();
            seen.entry(room).or_default().push((Instant::now(), notice));
        }
        seen
    });
    let started = Instant::now();
    let mut last = HashMap::new();
    for n in 0..24 {
        for room in [&first, &second] {
            last.insert(
                room.clone(),
                ann.post_message(room, &format!("tick {n}")).await,
            );
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let sending = started.elapsed();
    assert!(sending < Duration::from_secs(3), "sending took {sending:?}");
    let seen = reader.await.expect("reader");
    assert_eq!(seen.len(), 2, "both rooms: {seen:?}");
    for (room, notices) in &seen {
        // 24 messages over `sending`: far fewer notices, never two within the cooldown (a
        // little less is allowed for delivery jitter on a busy machine).
        let most = 2 + (sending.as_millis() / 250) as usize;
        assert!(
            notices.len() <= most,
            "{room}: {} notices in {sending:?}",
            notices.len()
        );
        for pair in notices.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(
                gap >= Duration::from_millis(200),
                "{room}: notices {gap:?} apart"
            );
        }
        let (_, final_state) = notices.last().expect("one");
        assert_eq!(
            final_state["last_message"]["id"], last[room]["id"],
            "the last state wins"
        );
        assert_eq!(final_state["unread_count"], 24, "{final_state}");
    }
    server.stop().await;
}
