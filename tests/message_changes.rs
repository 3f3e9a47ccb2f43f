//! Edits, deletions, reactions and replies against the real server: who may do what, the
//! errors for everything else, live `message_updated` frames in one order for everyone, and a
//! client that rejoins with its cursor ending with exactly the server's view.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{error_code, Client, TestServer, Ws};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn path(room: &str, message: &str) -> String {
    format!("/api/rooms/{room}/messages/{message}")
}

fn reaction_path(room: &str, message: &str, emoji: &str) -> String {
    let encoded: String = emoji.bytes().map(|b| format!("%{b:02X}")).collect();
    format!("{}/reactions/{encoded}", path(room, message))
}

async fn post(client: &Client, room: &str, body: Value) -> Value {
    let (status, message) = client
        .post(&format!("/api/rooms/{room}/messages"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message
}

fn id(message: &Value) -> String {
    message["id"].as_str().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletions_reactions_and_replies_follow_the_rules() {
    let server = TestServer::start().await;
    let admin = server.user("root").await; // the first account is the admin
    let owner = server.user("olivia").await;
    let member = server.user("mia").await;
    let outsider = server.user("oscar").await;
    let room = owner.create_room("shaping").await;
    let other_room = owner.create_room("elsewhere").await;
    let (status, _) = member.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);

    let first = post(&member, &room, json!({"body": "helo"})).await;
    let first_id = id(&first);
    assert_eq!(first["deleted"], false);
    assert_eq!(first["reactions"], json!([]));
    assert!(first.get("edited_at").is_none(), "{first}");
    assert!(
        first.get("seq").is_none(),
        "an unchanged message's seq is its id, left out: {first}"
    );

    // Edit: the author only, validated like a send, not another room's message.
    let (status, edited) = member
        .patch(&path(&room, &first_id), json!({"body": "hello"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["body"], "hello");
    assert!(edited["edited_at"].is_string(), "{edited}");
    assert!(edited["seq"].as_str() > edited["id"].as_str(), "{edited}");
    let (status, body) = owner
        .patch(&path(&room, &first_id), json!({"body": "mine now"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, body) = member
        .patch(&path(&room, &first_id), json!({"body": "   "}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = member
        .patch(&path(&other_room, &first_id), json!({"body": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = member
        .patch(&path(&room, "00000000000000ff"), json!({"body": "x"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = outsider
        .patch(&path(&room, &first_id), json!({"body": "x"}))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "outsiders are not members: {body}"
    );

    // Reactions: one emoji, toggled, counted, at most 20 distinct.
    let thumbs = "👍";
    let (status, reacted) = owner
        .put(&reaction_path(&room, &first_id, thumbs), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{reacted}");
    assert_eq!(
        reacted["reactions"],
        json!([{"emoji": thumbs, "count": 1, "users": ["olivia"]}])
    );
    let (_, again) = owner
        .put(&reaction_path(&room, &first_id, thumbs), Value::Null)
        .await;
    assert_eq!(
        again["reactions"][0]["count"], 1,
        "a second identical reaction changes nothing"
    );
    let (_, both) = member
        .put(&reaction_path(&room, &first_id, thumbs), Value::Null)
        .await;
    assert_eq!(both["reactions"][0]["users"], json!(["olivia", "mia"]));
    let (status, fewer) = owner.delete(&reaction_path(&room, &first_id, thumbs)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fewer["reactions"],
        json!([{"emoji": thumbs, "count": 1, "users": ["mia"]}])
    );
    for bad in ["x", "👍👍", ":+1:"] {
        let (status, body) = member
            .put(&reaction_path(&room, &first_id, bad), Value::Null)
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_emoji"),
            "{bad}: {body}"
        );
    }
    let many = [
        "😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍",
        "🤩", "😘", "😗", "😚",
    ];
    for emoji in many {
        let (status, body) = member
            .put(&reaction_path(&room, &first_id, emoji), Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{emoji}: {body}");
    }
    let (status, body) = member
        .put(&reaction_path(&room, &first_id, "😙"), Value::Null)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "too_many_reactions"),
        "{body}"
    );

    // Bodies are CommonMark, rendered once and sanitized: markup works, raw HTML is text.
    let marked = post(
        &member,
        &room,
        json!({"body": "**bold** <script>alert(1)</script> [x](javascript:alert(1))"}),
    )
    .await;
    let html = marked["html"].as_str().expect("html");
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;") && !html.contains("<script"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    assert_eq!(
        marked["body"],
        "**bold** <script>alert(1)</script> [x](javascript:alert(1))"
    );

    // Replies: to a message of the same room.
    let reply = post(
        &owner,
        &room,
        json!({"body": "answer", "reply_to": first_id}),
    )
    .await;
    assert_eq!(reply["reply_to"], first_id.as_str());
    let (status, body) = owner
        .post(
            &format!("/api/rooms/{other_room}/messages"),
            json!({"body": "x", "reply_to": first_id}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a message of another room: {body}"
    );
    assert_eq!(error_code(&body), "reply_not_found");

    // Delete: the author, the owner, an admin; nobody else. A tombstone stays.
    let second = post(&owner, &room, json!({"body": "owner's note"})).await;
    let (status, body) = member.delete(&path(&room, &id(&second))).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, tombstone) = owner.delete(&path(&room, &first_id)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner deletes a member's message: {tombstone}"
    );
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone["body"], "");
    assert_eq!(tombstone["reactions"], json!([]));
    let (status, again) = owner.delete(&path(&room, &first_id)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "deleting twice is harmless: {again}"
    );
    let (status, body) = member
        .patch(&path(&room, &first_id), json!({"body": "back"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "deleted")
    );
    let (status, body) = member
        .put(&reaction_path(&room, &first_id, thumbs), Value::Null)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "deleted")
    );
    let (status, _) = admin.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin.delete(&path(&room, &id(&second))).await;
    assert_eq!(status, StatusCode::OK, "an admin deletes: {body}");

    // History shows the current state, in id order, with the tombstone in its place.
    let (_, history) = member.get(&format!("/api/rooms/{room}/messages")).await;
    let messages = history["messages"].as_array().expect("messages");
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m["id"].as_str().unwrap_or(""))
        .collect();
    let expected = [&first, &marked, &reply, &second].map(|m| m["id"].as_str().unwrap_or(""));
    assert_eq!(ids, expected);
    assert_eq!(messages[0]["deleted"], true);
    assert!(
        messages[0].get("html").is_none(),
        "a tombstone renders nothing"
    );
    assert_eq!(messages[2]["reply_to"], first_id.as_str());

    // Plain text has nothing to render: clients show the body as it is.
    let plain = post(&member, &room, json!({"body": "just words, no markup"})).await;
    assert!(plain.get("html").is_none(), "{plain}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_every_subscriber_in_one_order() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let room = ann.create_room("live").await;
    let mut a = ann.ws().await;
    a.join(&room, None, 0).await;
    let mut b = bob.ws().await;
    b.join(&room, None, 0).await;
    a.recv_type("presence").await;

    a.send_json(json!({"type": "send", "room": room, "body": "one", "nonce": "n1"}))
        .await;
    let sent = a.recv_type("message").await["message"].clone();
    let mid = id(&sent);
    b.recv_type("message").await;
    a.send_json(
        json!({"type": "edit", "room": room, "message": mid, "body": "uno", "nonce": "e1"}),
    )
    .await;
    b.send_json(json!({"type": "react", "room": room, "message": mid, "emoji": "🎉", "on": true}))
        .await;
    b.send_json(json!({"type": "edit", "room": room, "message": mid, "body": "not mine"}))
        .await;

    let mut seen = [Vec::new(), Vec::new()];
    let mut nonces = [Vec::new(), Vec::new()];
    let mut errors = [Vec::new(), Vec::new()];
    // The edit and the reaction first (two connections: their order is the server's), then the
    // deletion, which must come after the reaction or the reaction is refused as `deleted`.
    for (wanted, delete_first) in [(2, false), (3, true)] {
        if delete_first {
            a.send_json(json!({"type": "delete", "room": room, "message": mid}))
                .await;
        }
        for (n, ws) in [&mut a, &mut b].into_iter().enumerate() {
            while seen[n].len() < wanted || (n == 1 && errors[1].is_empty()) {
                let frame = ws.recv().await;
                if frame["type"] == "error" {
                    errors[n].push(frame["code"].clone());
                    continue;
                }
                if frame["type"] != "message_updated" {
                    continue;
                }
                if let Some(nonce) = frame.get("nonce") {
                    assert_eq!(frame["message"]["body"], "uno", "{frame}");
                    nonces[n].push(nonce.clone());
                }
                seen[n].push(frame["message"].clone());
            }
        }
    }
    assert_eq!(
        nonces,
        [vec![json!("e1")], vec![]],
        "only the editor's copy carries its nonce"
    );
    assert_eq!(
        errors,
        [vec![], vec![json!("forbidden")]],
        "bob may not edit ann's message"
    );
    assert_eq!(
        seen[0], seen[1],
        "both subscribers saw the same states in the same order"
    );
    let seqs: Vec<&str> = seen[0].iter().map(state_of).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seen[0][2]["deleted"], true);

    // Frames that name no message, or another room's, are refused.
    a.send_json(json!({"type": "react", "room": room, "message": "zz", "emoji": "🎉", "on": true}))
        .await;
    assert_eq!(a.recv_type("error").await["code"], "not_found");
    a.send_json(json!({"type": "react", "room": room, "message": mid, "emoji": "no", "on": true}))
        .await;
    assert_eq!(a.recv_type("error").await["code"], "invalid_emoji");
    server.stop().await;
}

/// A tiny deterministic generator, so a failing sequence can be replayed from its seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Reads frames into `view` (upserting messages by id) until `quiet` passes without one;
/// returns the cursor: that of the last `replay_done`, else the highest live `seq`.
async fn absorb(
    ws: &mut Ws,
    view: &mut BTreeMap<String, Value>,
    mut cursor: String,
    quiet: Duration,
) -> String {
    let mut replaying = false;
    while let Ok(frame) = tokio::time::timeout(quiet, ws.recv()).await {
        match frame["type"].as_str() {
            Some("joined") => replaying = true,
            Some("replay_done") => {
                replaying = false;
                cursor = frame["cursor"].as_str().expect("cursor").to_string();
            }
            Some("message" | "message_updated") => {
                let message = frame["message"].clone();
                let seq = state_of(&message).to_string();
                if !replaying && seq > cursor {
                    cursor = seq;
                }
                view.insert(id(&message), message);
            }
            _ => {}
        }
    }
    cursor
}

async fn server_view(client: &Client, room: &str) -> BTreeMap<String, Value> {
    common::all_messages(client, room)
        .await
        .into_iter()
        .map(|message| (id(&message), message))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rejoining_with_its_cursor_ends_with_the_servers_view() {
    let server = TestServer::start_with(|config| {
        config.limits.sends_per_second = 100_000;
        config.limits.send_burst = 100_000;
    })
    .await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let room = ann.create_room("replay").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);
    for n in 0..20 {
        post(
            if n % 2 == 0 { &ann } else { &bob },
            &room,
            json!({"body": format!("seed {n}")}),
        )
        .await;
    }

    for seed in [1_u64, 2, 3] {
        // The watcher holds the room's state, then drops off.
        let mut watcher = bob.ws().await;
        let mut view = BTreeMap::new();
        watcher
            .send_json(json!({"type": "join", "room": room, "after": "0000000000000000"}))
            .await;
        let mut cursor = absorb(
            &mut watcher,
            &mut view,
            String::new(),
            Duration::from_millis(300),
        )
        .await;
        drop(watcher);

        // A burst of mixed operations while it is away, over one socket per user.
        let mut rng = Lcg(seed);
        let mut sockets = [ann.ws().await, bob.ws().await];
        for ws in sockets.iter_mut() {
            ws.send_json(json!({"type": "join", "room": room})).await;
        }
        let mut known: Vec<(String, usize)> = view
            .values()
            .map(|m| (id(m), if m["author"] == "ann" { 0 } else { 1 }))
            .collect();
        let emoji = ["👍", "🎉", "❤️", "😂"];
        for step in 0..1_000 {
            let who = rng.next(2) as usize;
            let frame = match (rng.next(10), known.is_empty()) {
                (0..=3, _) | (_, true) => {
                    json!({"type": "send", "room": room, "body": format!("burst {seed}/{step}")})
                }
                (4..=5, false) => {
                    let (mid, author) = known[rng.next(known.len() as u64) as usize].clone();
                    json!({"type": "edit", "room": room, "message": mid, "body": format!("edit {seed}/{step} by {author}")})
                }
                (6, false) => {
                    let (mid, _) = known[rng.next(known.len() as u64) as usize].clone();
                    json!({"type": "delete", "room": room, "message": mid})
                }
                _ => {
                    let (mid, _) = known[rng.next(known.len() as u64) as usize].clone();
                    let on = rng.next(3) > 0;
                    json!({"type": "react", "room": room, "message": mid, "emoji": emoji[rng.next(4) as usize], "on": on})
                }
            };
            sockets[who].send_json(frame).await;
            if step % 50 == 49 {
                // Learn the ids of new messages, so later operations can name them.
                for (n, ws) in sockets.iter_mut().enumerate() {
                    let mut fresh = BTreeMap::new();
                    absorb(ws, &mut fresh, String::new(), Duration::from_millis(50)).await;
                    for message in fresh.values() {
                        let author = if message["author"] == "ann" { 0 } else { 1 };
                        if author == n && !known.iter().any(|(k, _)| *k == id(message)) {
                            known.push((id(message), author));
                        }
                    }
                }
            }
        }
        for ws in sockets.iter_mut() {
            absorb(
                ws,
                &mut BTreeMap::new(),
                String::new(),
                Duration::from_millis(500),
            )
            .await;
        }

        // Back with its cursor: the backlog brings exactly what it missed.
        let mut watcher = bob.ws().await;
        watcher
            .send_json(json!({"type": "join", "room": room, "after": cursor}))
            .await;
        cursor = absorb(&mut watcher, &mut view, cursor, Duration::from_millis(500)).await;
        let expected = server_view(&ann, &room).await;
        assert_eq!(view.len(), expected.len(), "seed {seed}: same messages");
        for (mid, message) in &expected {
            assert_eq!(
                view.get(mid),
                Some(message),
                "seed {seed}: message {mid} differs"
            );
        }
        assert!(!cursor.is_empty());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_survive_a_restart_and_the_sequence_continues_after_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let ann = server.user("ann").await;
    let room = ann.create_room("durable").await;
    let first = post(&ann, &room, json!({"body": "before"})).await;
    let (_, edited) = ann
        .patch(&path(&room, &id(&first)), json!({"body": "after"}))
        .await;
    let (_, reacted) = ann
        .put(&reaction_path(&room, &id(&first), "👍"), Value::Null)
        .await;
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let (status, login) = server
        .client()
        .post(
            "/api/auth/login",
            json!({"username": "ann", "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let ann = Client {
        token: login["token"].as_str().map(str::to_string),
        username: "ann".into(),
        ..server.client()
    };
    let (_, history) = ann.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(history["messages"][0]["body"], "after");
    assert_eq!(history["messages"][0]["edited_at"], edited["edited_at"]);
    assert_eq!(history["messages"][0]["reactions"], reacted["reactions"]);
    let next = post(&ann, &room, json!({"body": "later"})).await;
    assert!(
        next["id"].as_str() > reacted["seq"].as_str(),
        "a new message's id comes after every change: {next} vs {reacted}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_close_after_the_edit_window() {
    use confab::clock::{Clock, ManualClock, SystemClock};
    let clock = std::sync::Arc::new(ManualClock::new(SystemClock.now_ms()));
    let server = TestServer::start_with_clock(clock.clone(), |config| {
        config.messages.edit_window = Some(Duration::from_secs(3600));
    })
    .await;
    let ann = server.user("ann").await;
    let room = ann.create_room("window").await;
    let message = post(&ann, &room, json!({"body": "draft"})).await;
    clock.advance_ms(3_599_000);
    let (status, body) = ann
        .patch(&path(&room, &id(&message)), json!({"body": "in time"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    clock.advance_ms(2_000);
    let (status, body) = ann
        .patch(&path(&room, &id(&message)), json!({"body": "too late"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{body}"
    );
    let (status, _) = ann.delete(&path(&room, &id(&message))).await;
    assert_eq!(status, StatusCode::OK, "deleting has no window");
    server.stop().await;
}

/// The sequence number of a message's state: `seq`, which is left out until it differs from the id.
fn state_of(message: &Value) -> &str {
    message["seq"]
        .as_str()
        .or(message["id"].as_str())
        .unwrap_or("")
}
