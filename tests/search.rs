//! Full-text search (issue 14) against the real server: what a user may find (and never more),
//! the query syntax and its errors, languages, paging, jumping to a hit, and the index as
//! derived data (rebuilt when missing or damaged, caught up after kill -9, `confab search`).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{error_code, BinaryServer, Client, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// How long a message may take to become searchable in these tests (the target is 1 s; a
/// loaded CI machine gets slack).
const SEARCHABLE_WITHIN: Duration = Duration::from_secs(20);

fn search_path(query: &str) -> String {
    format!("/api/search?q={}", urlencode(query))
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn search(client: &Client, query: &str) -> Value {
    let (status, body) = client.get(&search_path(query)).await;
    assert_eq!(status, StatusCode::OK, "search {query:?}: {body}");
    body
}

fn hits(body: &Value) -> &Vec<Value> {
    body["hits"].as_array().expect("hits")
}

fn bodies(body: &Value) -> Vec<String> {
    hits(body)
        .iter()
        .map(|hit| hit["message"]["body"].as_str().expect("body").to_string())
        .collect()
}

/// Searches until the answer has exactly `count` hits (a message is searchable about a second
/// after it is sent), and returns that answer.
async fn search_until(client: &Client, query: &str, count: usize) -> Value {
    let deadline = Instant::now() + SEARCHABLE_WITHIN;
    loop {
        let (status, body) = client.get(&search_path(query)).await;
        if status == StatusCode::OK && hits(&body).len() == count {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "search {query:?} as {} never had {count} hits; last answer {status}: {body}",
            client.username
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn private_room(owner: &Client, name: &str, members: &[&str]) -> String {
    let (status, room) = owner
        .post("/api/rooms", json!({"name": name, "kind": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let id = room["id"].as_str().expect("id").to_string();
    for member in members {
        let (status, body) = owner
            .put(&format!("/api/rooms/{id}/members/{member}"), Value::Null)
            .await;
        assert_eq!(status, StatusCode::CREATED, "add {member}: {body}");
    }
    id
}

/// Posts `"<prefix> 0"` to `"<prefix> <count - 1>"`, one by one, each acknowledged.
async fn post_numbered(client: &Client, room: &str, prefix: &str, count: usize) {
    for i in 0..count {
        client.post_message(room, &format!("{prefix} {i}")).await;
    }
}

fn id_of(message: &Value) -> String {
    message["id"].as_str().expect("message id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_come_only_from_rooms_the_user_may_read_now_and_never_show_old_text() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let general = alice.create_room("general").await;
    alice
        .post_message(&general, "deploy the release tonight")
        .await;
    let secret = private_room(&alice, "secret-ops", &["bob"]).await;
    let codes = alice
        .post_message(&secret, "the launch codes are **banana**")
        .await;
    let (status, dm) = alice.post("/api/dms", json!({"users": ["bob"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let dm = dm["id"].as_str().expect("dm id").to_string();
    alice.post_message(&dm, "rendezvous at noon").await;

    // A member finds the private room's message, with the match marked and its room named.
    let found = search_until(&bob, "banana", 1).await;
    let hit = &hits(&found)[0];
    assert_eq!(hit["room"]["name"], "secret-ops");
    assert_eq!(hit["room"]["id"], secret.as_str());
    assert_eq!(hit["message"]["id"], codes["id"]);
    assert_eq!(hit["message"]["author"], "alice");
    assert_eq!(
        hit["snippet"], "the launch codes are <mark>banana</mark>",
        "Markdown is dropped from the snippet, the match marked"
    );
    search_until(&bob, "rendezvous", 1).await;
    // Someone else finds the public room's message but never the private or direct ones.
    search_until(&carol, "deploy", 1).await;
    assert!(hits(&search(&carol, "banana").await).is_empty());
    assert!(hits(&search(&carol, "rendezvous").await).is_empty());
    let (status, body) = carol
        .get(&format!("{}&room={secret}", search_path("banana")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Removed from the room: the hits are gone that moment, not after any indexing.
    let (status, _) = alice
        .delete(&format!("/api/rooms/{secret}/members/bob"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(hits(&search(&bob, "banana").await).is_empty());
    assert_eq!(hits(&search(&alice, "banana").await).len(), 1);

    // Edited: the old text is not found from the moment the edit is answered; the new one is.
    let path = format!("/api/rooms/{secret}/messages/{}", id_of(&codes));
    let (status, body) = alice
        .patch(&path, json!({"body": "the launch codes are mango"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(hits(&search(&alice, "banana").await).is_empty());
    let found = search_until(&alice, "mango", 1).await;
    assert_eq!(bodies(&found), ["the launch codes are mango"]);
    search_until(&alice, "banana", 0).await;

    // Deleted: not found from the moment the deletion is answered.
    let (status, _) = alice.delete(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hits(&search(&alice, "mango").await).is_empty());
    assert!(hits(&search(&alice, "launch codes").await).is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_phrases_exclusions_and_filters_narrow_the_hits() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let general = alice.create_room("general").await;
    let random = alice.create_room("random").await;
    let spaced = alice.create_room("team room").await;
    alice.post_message(&spaced, "release checklist").await;
    alice
        .post_message(&general, "release notes are ready")
        .await;
    bob.post_message(&general, "notes about the new release")
        .await;
    alice.post_message(&random, "release party on friday").await;

    search_until(&alice, "checklist", 1).await;
    assert_eq!(
        bodies(&search(&alice, "release in:\"Team Room\"").await),
        ["release checklist"]
    );
    let both = search_until(&alice, "release notes", 2).await;
    // Newest first.
    assert_eq!(
        bodies(&both),
        ["notes about the new release", "release notes are ready"]
    );
    assert_eq!(
        bodies(&search(&alice, "\"release notes\"").await),
        ["release notes are ready"]
    );
    assert_eq!(
        bodies(&search(&alice, "release -notes").await),
        ["release party on friday", "release checklist"]
    );
    assert_eq!(
        bodies(&search(&alice, "release -\"release notes\"").await),
        [
            "release party on friday",
            "notes about the new release",
            "release checklist"
        ]
    );
    assert_eq!(
        bodies(&search(&alice, "from:bob release").await),
        ["notes about the new release"]
    );
    assert_eq!(
        bodies(&search(&alice, "release in:random").await),
        ["release party on friday"]
    );
    let (_, by_param) = alice
        .get(&format!(
            "{}&author=alice&room={general}",
            search_path("release")
        ))
        .await;
    assert_eq!(bodies(&by_param), ["release notes are ready"]);
    // Filters alone list everything they let through.
    assert_eq!(hits(&search(&alice, "from:alice").await).len(), 3);
    // Days are whole UTC days: everything here was sent today.
    let today = time::OffsetDateTime::now_utc().date();
    let yesterday = today.previous_day().expect("yesterday");
    let tomorrow = today.next_day().expect("tomorrow");
    assert_eq!(
        hits(&search(&alice, &format!("release after:{yesterday}")).await).len(),
        4
    );
    assert!(hits(&search(&alice, &format!("release after:{today}")).await).is_empty());
    assert!(hits(&search(&alice, &format!("release before:{today}")).await).is_empty());
    assert_eq!(
        hits(&search(&alice, &format!("release before:{tomorrow}")).await).len(),
        4
    );
    let (_, by_dates) = alice
        .get(&format!(
            "{}&after={yesterday}&before={tomorrow}",
            search_path("release")
        ))
        .await;
    assert_eq!(hits(&by_dates).len(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_answered_400_with_where_the_problem_is() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("general").await;
    alice.post_message(&room, "something to find").await;
    let long = "a".repeat(513);
    let many = vec!["word"; 33].join(" ");
    let cases: [(&str, &str); 9] = [
        ("", "empty"),
        ("   ", "empty"),
        ("\"abc", "never closed"),
        (&long, "at most 512"),
        (&many, "at most 32"),
        ("x before:2026-13-01", "not a date"),
        ("from: x", "needs a value"),
        ("!!! ...", "nothing to search for"),
        ("x in:no-such-room", "none of the rooms you can read"),
    ];
    for (query, expected) in cases {
        let (status, body) = alice.get(&search_path(query)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}: {body}");
        assert_eq!(error_code(&body), "invalid_query", "{query:?}: {body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(expected), "{query:?}: {message}");
    }
    for extra in [
        "&limit=0",
        "&limit=101",
        "&cursor=not-a-cursor",
        "&before=soon",
        "&room=nope",
    ] {
        let (status, body) = alice
            .get(&format!("{}{extra}", search_path("something")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
    }
    let (status, _) = alice.get("/api/search").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "q is required");
    let (status, _) = server.client().get(&search_path("something")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accents_chinese_japanese_emoji_and_code_identifiers_are_found() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("international").await;
    let lines = [
        "Herr Müller hat die Straße überquert",
        "我们明天开会讨论预算",
        "東京タワーに行きました",
        "ship it 🚀 today",
        "call parse_room_id first",
        "the HTTPServer crashed again",
        "FooBar is fine",
    ];
    for line in lines {
        alice.post_message(&room, line).await;
    }
    search_until(&alice, "crashed", 1).await;
    let expectations: [(&str, &str); 16] = [
        ("muller", lines[0]),
        ("MÜLLER", lines[0]),
        ("strasse", lines[0]),
        ("uberquert", lines[0]),
        ("明天开会", lines[1]),
        ("预算", lines[1]),
        ("\"开会讨论\"", lines[1]),
        ("東京タワー", lines[2]),
        ("行きました", lines[2]),
        ("🚀", lines[3]),
        ("room_id", lines[4]),
        ("parse", lines[4]),
        ("parseRoomId", lines[4]),
        ("httpserver", lines[5]),
        ("server", lines[5]),
        ("foo_bar", lines[6]),
    ];
    for (query, expected) in expectations {
        let found = search(&alice, query).await;
        assert_eq!(bodies(&found), [expected], "{query:?}: {found}");
    }
    // Pairs of characters must be adjacent as written: these two are not.
    assert!(hits(&search(&alice, "明会").await).is_empty());
    let found = search(&alice, "müller").await;
    assert_eq!(
        hits(&found)[0]["snippet"],
        "Herr <mark>Müller</mark> hat die Straße überquert"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_cursor_newest_first_without_gaps_or_repeats() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let first = alice.create_room("first").await;
    let second = alice.create_room("second").await;
    let mut sent = Vec::new();
    for i in 0..25 {
        let room = if i % 2 == 0 { &first } else { &second };
        let message = alice.post_message(room, &format!("pager item {i}")).await;
        sent.push((room.clone(), id_of(&message)));
    }
    search_until(&alice, "pager", 20).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("{}&limit=10", search_path("pager"));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, page) = alice.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for hit in hits(&page) {
            seen.push((
                hit["room"]["id"].as_str().expect("room").to_string(),
                id_of(&hit["message"]),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), sent.len());
    let unique: HashSet<&(String, String)> = seen.iter().collect();
    let expected: HashSet<&(String, String)> = sent.iter().collect();
    assert_eq!(unique, expected, "every message once");
    // Newest first: within a room, ids descend (across rooms, a millisecond may tie).
    for room in [&first, &second] {
        let ids: Vec<&String> = seen
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, id)| id)
            .collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_centred_on_a_message_opens_a_room_at_a_hit() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("long").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(id_of(
            &alice.post_message(&room, &format!("line {i}")).await,
        ));
    }
    let (status, page) = alice
        .get(&format!(
            "/api/rooms/{room}/messages?around={}&limit=10",
            ids[15]
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let listed: Vec<String> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(listed, ids[11..21].to_vec());
    // Near the start, the page is what there is.
    let (_, page) = alice
        .get(&format!(
            "/api/rooms/{room}/messages?around={}&limit=10",
            ids[1]
        ))
        .await;
    assert_eq!(page["messages"].as_array().expect("messages").len(), 7);
    let (status, body) = alice
        .get(&format!(
            "/api/rooms/{room}/messages?around={}&before={}",
            ids[15], ids[20]
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_rooms_messages_are_not_found_after_the_sweep() {
    let clock = std::sync::Arc::new(confab::clock::ManualClock::new(1_800_000_000_000));
    let server = TestServer::start_with_clock(clock.clone(), |c| {
        c.rooms.ttl = Duration::from_secs(3600);
        c.rooms.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let alice = server.user("alice").await;
    let room = alice.create_room("short").await;
    alice.post_message(&room, "ephemeral wisdom").await;
    let keeper = alice.create_room("keeper").await;
    alice.post_message(&keeper, "lasting wisdom").await;
    search_until(&alice, "wisdom", 2).await;
    clock.advance_ms(1_800_000);
    // A second room, created later, outlives the first.
    let later = alice.create_room("later").await;
    alice.post_message(&later, "late wisdom").await;
    clock.advance_ms(1_900_000);
    let swept = server.state().chat.sweep_expired().await.expect("sweep");
    assert_eq!(swept, 2);
    let found = search_until(&alice, "wisdom", 1).await;
    assert_eq!(bodies(&found), ["late wisdom"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_are_rate_limited_per_user_and_can_be_switched_off() {
    let server = TestServer::start_with(|c| {
        c.search.per_minute = 1;
        c.search.burst = 2;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for _ in 0..2 {
        assert_eq!(alice.get(&search_path("x")).await.0, StatusCode::OK);
    }
    let (status, body) = alice.get(&search_path("x")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_code(&body), "rate_limited");
    // Per user: bob still may.
    assert_eq!(bob.get(&search_path("x")).await.0, StatusCode::OK);
    server.stop().await;

    let off = TestServer::start_with(|c| c.search.enabled = false).await;
    let alice = off.user("alice").await;
    let (status, body) = alice.get(&search_path("x")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_code(&body), "search_disabled");
    assert!(!off.data.join("search").exists(), "no index is kept");
    off.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_damaged_index_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let alice = server.user("alice").await;
    let room = alice.create_room("general").await;
    post_numbered(&alice, &room, "durable fact", 50).await;
    search_until(&alice, "durable", 20).await;
    server.stop().await;
    let index = dir.path().join("search");
    let metrics = |server: &TestServer| {
        let addr = server.addr;
        async move {
            reqwest::get(format!("http://{addr}/metrics"))
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text")
        }
    };

    // Damaged: its metadata is garbage.
    std::fs::write(index.join("meta.json"), b"{not json").expect("damage");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let alice = server.client().login("alice").await;
    let found = search_until(&alice, "\"durable fact 7\"", 1).await;
    assert_eq!(bodies(&found), ["durable fact 7"]);
    let (_, all) = alice
        .get(&format!("{}&limit=100", search_path("durable")))
        .await;
    assert_eq!(hits(&all).len(), 50, "every message once");
    assert!(metrics(&server).await.contains("confab_search_lag_seconds"));
    server.stop().await;

    // Written by an older schema: its commit says so.
    let meta = std::fs::read_to_string(index.join("meta.json")).expect("meta.json");
    assert!(meta.contains(r#"\"schema\":3"#), "{meta}");
    let older = meta.replace(r#"\"schema\":3"#, r#"\"schema\":2"#);
    std::fs::write(index.join("meta.json"), older).expect("older schema");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let alice = server.client().login("alice").await;
    let found = search_until(&alice, "\"durable fact 13\"", 1).await;
    assert_eq!(bodies(&found), ["durable fact 13"]);
    server.stop().await;
    let meta = std::fs::read_to_string(index.join("meta.json")).expect("meta.json");
    assert!(meta.contains(r#"\"schema\":3"#), "rewritten: {meta}");

    // Missing altogether.
    std::fs::remove_dir_all(&index).expect("remove index");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let alice = server.client().login("alice").await;
    let found = search_until(&alice, "\"durable fact 42\"", 1).await;
    assert_eq!(bodies(&found), ["durable fact 42"]);
    server.stop().await;
}

/// Sends `count` messages, each with a unique word, from several clients at once; returns the
/// ids acknowledged.
async fn flood(server: &BinaryServer, room: &str, token: &str, count: usize) -> HashSet<String> {
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let mut client = server.client();
        client.token = Some(token.to_string());
        let room = room.to_string();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in (worker..count).step_by(8) {
                let (status, body) = client
                    .post(
                        &format!("/api/rooms/{room}/messages"),
                        json!({"body": format!("crashword item{i}")}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                acked.push(id_of(&body));
            }
            acked
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.extend(task.await.expect("sender"));
    }
    ids
}

async fn all_hits(client: &Client, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{}&limit=100", search_path(query));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, page) = client.get(&path).await;
        if status != StatusCode::OK {
            // 503 while the index is rebuilt: the caller retries.
            return Vec::new();
        }
        ids.extend(hits(&page).iter().map(|hit| id_of(&hit["message"])));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_during_heavy_indexing_every_acknowledged_message_is_found_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("CONFAB_SEARCH__PER_MINUTE", "100000"),
        ("CONFAB_SEARCH__BURST", "1000"),
    ];
    let server = BinaryServer::start(dir.path(), &env);
    let alice = server.client().register("alice").await;
    let room = alice.create_room("busy").await;
    let token = alice.token.clone().expect("token");
    let acked = flood(&server, &room, &token, 2000).await;
    assert_eq!(acked.len(), 2000);
    server.kill9();

    let server = BinaryServer::start(dir.path(), &env);
    let alice = server.client().login("alice").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = all_hits(&alice, "crashword").await;
        let unique: HashSet<String> = found.iter().cloned().collect();
        assert_eq!(unique.len(), found.len(), "a message found twice");
        if unique == acked {
            break;
        }
        assert!(
            unique.is_subset(&acked),
            "found a message that was never acknowledged"
        );
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged messages searchable after the restart",
            unique.len(),
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn confab(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
    command.args(args).arg("--data").arg(data);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CONFAB_") {
            command.env_remove(key);
        }
    }
    command.output().expect("confab runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confab_search_reindex_rebuilds_with_the_server_running_or_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BinaryServer::start(dir.path(), &[]);
    let alice = server.client().register("alice").await;
    let room = alice.create_room("general").await;
    post_numbered(&alice, &room, "indexed note", 40).await;
    search_until(&alice, "\"indexed note 39\"", 1).await;

    let output = confab(dir.path(), &["search", "reindex"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("search index rebuilt"), "{stdout}");
    let (_, all) = alice
        .get(&format!("{}&limit=100", search_path("indexed")))
        .await;
    assert_eq!(hits(&all).len(), 40);
    let output = confab(dir.path(), &["search", "status", "--json"]);
    let status: Value = serde_json::from_slice(&output.stdout).expect("status json");
    assert_eq!(status["state"], "ready");
    drop(server);

    // Stopped: the command opens the data directory itself.
    std::fs::remove_dir_all(dir.path().join("search")).expect("remove index");
    let output = confab(dir.path(), &["search", "reindex"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("search").join("meta.json").exists());
    let server = BinaryServer::start(dir.path(), &[]);
    let alice = server.client().login("alice").await;
    let (status, all) = alice
        .get(&format!("{}&limit=100", search_path("indexed")))
        .await;
    assert_eq!(status, StatusCode::OK, "ready at once: {all}");
    assert_eq!(hits(&all).len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_index_is_rebuilt_searches_answer_503_and_chat_goes_on() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let room = alice.create_room("general").await;
    post_numbered(&alice, &room, "rebuild subject", 300).await;
    search_until(&alice, "\"rebuild subject 299\"", 1).await;
    let search = server.state().search.clone().expect("search on");
    search.request_rebuild();
    let (status, body) = alice.get(&search_path("rebuild")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_code(&body), "reindexing");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("being rebuilt"), "{message}");
    // Chat is not held up by the rebuild.
    alice.post_message(&room, "rebuild subject during").await;
    let found = search_until(&alice, "\"rebuild subject during\"", 1).await;
    assert_eq!(bodies(&found), ["rebuild subject during"]);
    let (_, all) = alice
        .get(&format!("{}&limit=100", search_path("rebuild")))
        .await;
    assert_eq!(hits(&all).len(), 100);
    assert!(all["next_cursor"].is_string());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_is_searchable_and_carries_no_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = BinaryServer::start(&data, &[]);
    let alice = server.client().register("alice").await;
    let room = alice.create_room("general").await;
    alice.post_message(&room, "backed up wisdom").await;
    search_until(&alice, "wisdom", 1).await;
    let file = dir.path().join("snapshot.backup");
    let output = confab(&data, &["backup", "create", file.to_str().expect("path")]);
    assert!(output.status.success(), "{output:?}");
    alice.post_message(&room, "later wisdom").await;
    search_until(&alice, "wisdom", 2).await;
    drop(server);

    // Over the same directory, replacing what it holds (and its index).
    let output = confab(
        &data,
        &["backup", "restore", "--force", file.to_str().expect("path")],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(!data.join("search").exists(), "the old index is gone");
    let server = BinaryServer::start(&data, &[]);
    let alice = server.client().login("alice").await;
    let found = search_until(&alice, "wisdom", 1).await;
    assert_eq!(bodies(&found), ["backed up wisdom"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_many_rooms_still_never_sees_the_others() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    // More rooms than the query narrows up front: readable rooms are checked on the matches.
    let mut public = Vec::new();
    for i in 0..12 {
        public.push(alice.create_room(&format!("public-{i}")).await);
    }
    alice.post_message(&public[5], "needle in the open").await;
    let hidden = private_room(&alice, "hidden", &[]).await;
    alice.post_message(&hidden, "needle in the dark").await;
    search_until(&alice, "needle", 2).await;
    let found = search(&bob, "needle").await;
    assert_eq!(bodies(&found), ["needle in the open"]);
    let (_, all) = bob.get(&search_path("in:hidden needle")).await;
    assert_eq!(error_code(&all), "invalid_query");
    server.stop().await;
}
