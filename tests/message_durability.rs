//! Message changes on disk, against the real binary.
//!
//! - An edit, a deletion or a reaction is durable once acknowledged (the REST 200, or the
//!   `message_updated` echo on the sender's WebSocket): kill -9 right after it, restart, and REST
//!   history and a WebSocket rejoin with `after` both show it.
//! - A deleted body is not served again (REST, WebSocket replay, backups) at once, and leaves
//!   the data directory's files with `confab compact`. Before that, sled 0.34 may still hold the
//!   old bytes in its log: the test prints what it finds, without asserting it either way.
//! - `confab compact` keeps everything else, refuses while a server runs, and handles a new, an
//!   empty and a missing data directory.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::cli::{fails_with, ok};
use common::{all_messages, BinaryServer, Client, Ws};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Edits, deletions and reactions share the send rate limit; these tests are not about it.
const FAST: &[(&str, &str)] = &[
    ("CONFAB_LIMITS__SENDS_PER_SECOND", "100000"),
    ("CONFAB_LIMITS__SEND_BURST", "100000"),
];

/// Rounds of the kill -9 test; each round kills the server after each of six changes.
const ROUNDS: usize = 3;

fn confab(data: &Path, args: &[&str]) -> Output {
    common::cli::confab(data, args, None)
}

fn path(room: &str, message: &str) -> String {
    format!("/api/rooms/{room}/messages/{message}")
}

fn reaction_path(room: &str, message: &str, emoji: &str) -> String {
    let encoded: String = emoji.bytes().map(|b| format!("%{b:02X}")).collect();
    format!("{}/reactions/{encoded}", path(room, message))
}

fn id(message: &Value) -> String {
    message["id"].as_str().expect("id").to_string()
}

/// The sequence number of a message's state: `seq`, absent until its first change (then the id).
fn seq(message: &Value) -> &str {
    message
        .get("seq")
        .unwrap_or(&message["id"])
        .as_str()
        .expect("seq or id")
}

/// A client of `server` with a token issued by an earlier run of it (sessions are stored).
fn as_user(server: &BinaryServer, username: &str, token: &str) -> Client {
    Client {
        token: Some(token.to_string()),
        username: username.to_string(),
        ..server.client()
    }
}

async fn post(client: &Client, room: &str, body: &str) -> Value {
    let (status, message) = client
        .post(
            &format!("/api/rooms/{room}/messages"),
            json!({ "body": body }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message
}

/// Waits for the `message_updated` frame of message `mid` that `done` accepts.
async fn updated(ws: &mut Ws, mid: &str, done: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = ws.recv().await;
        assert_ne!(frame["type"], "error", "{frame}");
        if frame["type"] == "message_updated" && frame["message"]["id"] == mid && done(&frame) {
            return frame["message"].clone();
        }
    }
}

/// One change of one message, acknowledged; returns the acknowledged state.
#[derive(Debug, Clone, Copy)]
enum Change {
    RestEdit,
    RestDelete,
    RestReact,
    WsEdit,
    WsDelete,
    WsReact,
}

const CHANGES: [Change; 6] = [
    Change::RestEdit,
    Change::RestDelete,
    Change::RestReact,
    Change::WsEdit,
    Change::WsDelete,
    Change::WsReact,
];

/// The people of the kill -9 test: alice owns the room, bob is a member.
struct People {
    alice: String,
    bob: String,
    room: String,
}

impl Change {
    /// Makes the change on `target` (a message of this round), as its author or the room's
    /// owner, and returns the state the acknowledgement carried.
    async fn apply(self, server: &BinaryServer, people: &People, target: &str) -> Value {
        let alice = as_user(server, "alice", &people.alice);
        let bob = as_user(server, "bob", &people.bob);
        let room = &people.room;
        match self {
            Change::RestEdit => {
                let (status, body) = alice
                    .patch(&path(room, target), json!({"body": "edited over REST"}))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body
            }
            Change::RestDelete => {
                let (status, body) = alice.delete(&path(room, target)).await;
                assert_eq!(status, StatusCode::OK, "the owner deletes: {body}");
                body
            }
            Change::RestReact => {
                let (status, body) = bob
                    .put(&reaction_path(room, target, "👍"), Value::Null)
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body
            }
            Change::WsEdit => {
                let mut ws = bob.ws().await;
                ws.join(room, None, 0).await;
                let frame = json!({"type": "edit", "room": room, "message": target,
                    "body": "edited over WebSocket", "nonce": format!("edit-{target}")});
                ws.send_json(frame).await;
                updated(&mut ws, target, |frame| frame.get("nonce").is_some()).await
            }
            Change::WsDelete => {
                let mut ws = alice.ws().await;
                ws.join(room, None, 0).await;
                ws.send_json(json!({"type": "delete", "room": room, "message": target}))
                    .await;
                updated(&mut ws, target, |frame| frame["message"]["deleted"] == true).await
            }
            Change::WsReact => {
                let mut ws = alice.ws().await;
                ws.join(room, None, 0).await;
                let frame = json!({"type": "react", "room": room, "message": target,
                    "emoji": "🎉", "on": true});
                ws.send_json(frame).await;
                updated(&mut ws, target, |frame| {
                    frame["message"]["reactions"] != json!([])
                })
                .await
            }
        }
    }

    /// Who writes the message this change is made to (an edit only by its author).
    fn author(self) -> &'static str {
        match self {
            Change::RestEdit | Change::WsDelete | Change::RestReact => "alice",
            Change::WsEdit | Change::RestDelete | Change::WsReact => "bob",
        }
    }
}

/// Checks that REST history is exactly `expected`, and that a WebSocket join with `after` =
/// `cursor` replays exactly the messages in `changed`, in their expected state.
async fn check(
    server: &BinaryServer,
    people: &People,
    expected: &BTreeMap<String, Value>,
    cursor: &str,
    changed: &BTreeSet<String>,
) {
    let alice = as_user(server, "alice", &people.alice);
    let stored: BTreeMap<String, Value> = all_messages(&alice, &people.room)
        .await
        .into_iter()
        .map(|message| (id(&message), message))
        .collect();
    for (mid, state) in expected {
        assert_eq!(
            stored.get(mid),
            Some(state),
            "REST history: message {mid} as acknowledged"
        );
    }
    assert_eq!(stored.len(), expected.len(), "no other messages");

    let mut ws = alice.ws().await;
    ws.send_json(json!({"type": "join", "room": people.room, "after": cursor}))
        .await;
    ws.recv_type("joined").await;
    let mut replayed = BTreeMap::new();
    let done = loop {
        let frame = ws.recv().await;
        match frame["type"].as_str() {
            Some("message") => {
                replayed.insert(id(&frame["message"]), frame["message"].clone());
            }
            Some("replay_done") => break frame,
            _ => {}
        }
    };
    let replayed_ids: BTreeSet<String> = replayed.keys().cloned().collect();
    assert_eq!(&replayed_ids, changed, "the rejoin replays what changed");
    for (mid, state) in &replayed {
        assert_eq!(Some(state), expected.get(mid), "replayed message {mid}");
    }
    let last_seq = expected.values().map(seq).max().expect("messages");
    assert_eq!(done["cursor"], last_seq, "the cursor is the last change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_edits_deletions_and_reactions_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BinaryServer::start(dir.path(), FAST);
    let alice = server.client().register("alice").await;
    let bob = server.client().register("bob").await;
    let room = alice.create_room("durable-changes").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let people = People {
        alice: alice.token.clone().expect("token"),
        bob: bob.token.clone().expect("token"),
        room,
    };

    let mut expected: BTreeMap<String, Value> = BTreeMap::new();
    let mut running = Some(server);
    let mut kills = 0;
    for round in 0..ROUNDS {
        let server = running.take().expect("a running server");
        // One fresh message per change, so each acknowledged state is the message's last.
        let mut targets = Vec::new();
        for (n, change) in CHANGES.iter().enumerate() {
            let token = if change.author() == "alice" {
                &people.alice
            } else {
                &people.bob
            };
            let author = as_user(&server, change.author(), token);
            let message = post(&author, &people.room, &format!("round {round} message {n}")).await;
            targets.push(id(&message));
            expected.insert(id(&message), message);
        }
        let cursor = expected.values().map(seq).max().expect("seq").to_string();

        let mut server = Some(server);
        let mut changed = BTreeSet::new();
        for (change, target) in CHANGES.iter().zip(&targets) {
            let up = server
                .take()
                .unwrap_or_else(|| BinaryServer::start(dir.path(), FAST));
            let state = change.apply(&up, &people, target).await;
            // At once: nothing but the acknowledgement tells the change is on disk.
            up.kill9();
            kills += 1;
            expected.insert(target.clone(), state);
            changed.insert(target.clone());
        }

        let server = BinaryServer::start(dir.path(), FAST);
        check(&server, &people, &expected, &cursor, &changed).await;
        let states: Vec<&Value> = targets.iter().map(|t| &expected[t]).collect();
        assert_eq!(states[0]["body"], "edited over REST");
        assert!(states[0]["edited_at"].is_string());
        assert_eq!(
            (&states[1]["deleted"], &states[1]["body"]),
            (&json!(true), &json!(""))
        );
        assert_eq!(states[2]["reactions"][0]["users"], json!(["bob"]));
        assert_eq!(states[3]["body"], "edited over WebSocket");
        assert!(states[3]["edited_at"].is_string());
        assert_eq!(
            (&states[4]["deleted"], &states[4]["body"]),
            (&json!(true), &json!(""))
        );
        assert_eq!(states[5]["reactions"][0]["emoji"], "🎉");
        running = Some(server);
    }
    eprintln!(
        "{kills} kills, each right after an acknowledged change: every change present after \
         the restarts, over REST and in a WebSocket rejoin with `after`"
    );
}

/// A marker no other test, file or run shares.
fn marker(tag: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    let first = hasher.finish();
    hasher.write_u64(first);
    format!("{tag}-{first:016x}{:016x}", hasher.finish())
}

/// Whether the file's bytes contain `needle` (a socket or an unreadable file holds nothing).
fn holds(file: &Path, needle: &str) -> bool {
    std::fs::read(file)
        .unwrap_or_default()
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The files under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the data directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if holds(&path, needle) {
            found.push(path);
        }
    }
    found
}

/// What sled's files hold of each marker at one moment, for the report.
fn observe(moment: &str, data: &Path, markers: &[&str]) -> String {
    let seen: Vec<String> = markers
        .iter()
        .map(|m| {
            let files = files_holding(data, m);
            let names: Vec<String> = files
                .iter()
                .map(|f| f.strip_prefix(data).unwrap_or(f).display().to_string())
                .collect();
            if names.is_empty() {
                "absent".to_string()
            } else {
                format!("in {}", names.join(", "))
            }
        })
        .collect();
    format!("{moment}: {}", seen.join(" / "))
}

fn sigterm(mut server: BinaryServer) {
    assert!(Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill")
        .success());
    let status = server
        .wait_for_exit(Duration::from_secs(15))
        .expect("exits after SIGTERM");
    assert!(status.success());
}

/// Everything a user can see of the data, through the API, and the accounts from the CLI.
async fn everything(server: &BinaryServer, tokens: &[(&str, &str)], rooms: &[&str]) -> Value {
    let mut all = serde_json::Map::new();
    for (username, token) in tokens {
        let client = as_user(server, username, token);
        let (status, me) = client.get("/api/auth/me").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{username}'s session survives: {me}"
        );
        let (_, listed) = client.get("/api/rooms").await;
        all.insert(format!("{username}: me"), me);
        all.insert(format!("{username}: rooms"), listed);
    }
    let alice = as_user(server, tokens[0].0, tokens[0].1);
    for room in rooms {
        let (_, members) = alice.get(&format!("/api/rooms/{room}/members")).await;
        let (_, invites) = alice.get(&format!("/api/rooms/{room}/invites")).await;
        all.insert(format!("{room}: members"), members);
        all.insert(format!("{room}: invites"), invites);
        all.insert(
            format!("{room}: messages"),
            Value::Array(all_messages(&alice, room).await),
        );
    }
    Value::Object(all)
}

/// The lines of a backup between its header and its trailer (both hold the time).
fn backup_body(data: &Path, file: &Path) -> Vec<String> {
    ok(&confab(
        data,
        &[
            "backup",
            "create",
            file.to_str().expect("path"),
            "--no-sessions",
            "--force",
        ],
    ));
    let text = std::fs::read_to_string(file).expect("read backup");
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1..lines.len() - 1].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_body_leaves_the_disk_with_confab_compact_and_nothing_else_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = BinaryServer::start(&data, FAST);
    let alice = server.client().register("alice").await;
    let bob = server.client().register("bob").await;
    let general = alice.create_room("general").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{general}/join")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, private) = alice
        .post("/api/rooms", json!({"name": "plans", "kind": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{private}");
    let private = id(&private);
    let (status, _) = alice
        .put(&format!("/api/rooms/{private}/members/bob"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, invite) = alice
        .post(
            &format!("/api/rooms/{private}/invites"),
            json!({"max_uses": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let (status, dm) = bob.post("/api/dms", json!({"users": ["alice"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let dm = id(&dm);

    // Messages that stay, one edited, one reacted to, one deleted without a marker.
    let kept = post(&alice, &general, "good morning").await;
    let edited = post(&bob, &general, "helo").await;
    let (status, _) = bob
        .patch(&path(&general, &id(&edited)), json!({"body": "hello"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bob
        .put(&reaction_path(&general, &id(&kept), "👍"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    post(&bob, &private, "the plan stays").await;
    post(&alice, &dm, "just between us").await;

    // The markers: one sent and deleted over REST, one over WebSocket.
    let rest_marker = marker("rest");
    let ws_marker = marker("ws");
    let markers = [rest_marker.as_str(), ws_marker.as_str()];
    let doomed = post(&alice, &general, &format!("the code is {rest_marker}")).await;
    let (status, tombstone) = alice.delete(&path(&general, &id(&doomed))).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(
        (&tombstone["deleted"], &tombstone["body"]),
        (&json!(true), &json!(""))
    );
    let mut ws = bob.ws().await;
    ws.join(&private, None, 0).await;
    ws.send_json(json!({"type": "send", "room": private, "body": format!("psst {ws_marker}"), "nonce": "n-1"}))
        .await;
    let sent = ws.recv_type("message").await["message"].clone();
    assert!(sent["body"]
        .as_str()
        .is_some_and(|b| b.contains(&ws_marker)));
    ws.send_json(json!({"type": "delete", "room": private, "message": id(&sent)}))
        .await;
    let gone = updated(&mut ws, &id(&sent), |f| f["message"]["deleted"] == true).await;
    assert_eq!(gone["body"], "");
    drop(ws);
    post(&bob, &general, "after the deletion").await;

    // Not served again: REST, a full WebSocket replay, a backup.
    let rooms = [general.as_str(), private.as_str(), dm.as_str()];
    let tokens = [
        ("alice", alice.token.as_deref().expect("token")),
        ("bob", bob.token.as_deref().expect("token")),
    ];
    let served = everything(&server, &tokens, &rooms).await.to_string();
    for marker in markers {
        assert!(!served.contains(marker), "REST serves {marker}");
    }
    for room in rooms {
        let mut ws = alice.ws().await;
        ws.send_json(json!({"type": "join", "room": room, "after": "0000000000000000"}))
            .await;
        ws.recv_type("joined").await;
        loop {
            let frame = ws.recv().await;
            for marker in markers {
                assert!(!frame.to_string().contains(marker), "replayed: {frame}");
            }
            if frame["type"] == "replay_done" {
                break;
            }
        }
    }
    let hot = dir.path().join("hot.backup");
    ok(&confab(
        &data,
        &["backup", "create", hot.to_str().expect("path")],
    ));
    for marker in markers {
        assert!(!holds(&hot, marker), "the backup holds {marker}");
    }

    // What sled keeps: observed and reported, not asserted (log-structured storage).
    let mut seen = vec![observe("after deletion, server running", &data, &markers)];
    let pid = server.pid();
    server.kill9();
    seen.push(observe("after kill -9", &data, &markers));
    let server = BinaryServer::start(&data, FAST);
    let before = everything(&server, &tokens, &rooms).await;
    seen.push(observe("after restart", &data, &markers));
    sigterm(server);
    seen.push(observe("after a clean stop", &data, &markers));
    let users_before = ok(&confab(&data, &["user", "list", "--json"]));
    let backup_before = backup_body(&data, &dir.path().join("before.backup"));

    // Compaction with the server stopped: the markers leave every file, nothing else changes.
    let output = ok(&confab(&data, &["compact"]));
    eprintln!("killed server {pid}; sled and the deleted bodies:");
    for line in &seen {
        eprintln!("  {line}");
    }
    eprintln!("  confab compact: {}", output.trim());
    assert!(output.starts_with("compacted "), "{output}");
    assert!(
        output.contains("bytes before") && output.contains("bytes after"),
        "{output}"
    );
    assert_eq!(output.trim().lines().count(), 1, "one line: {output}");
    for marker in markers {
        let files = files_holding(&data, marker);
        assert!(files.is_empty(), "{marker} is still in {files:?}");
    }
    for leftover in ["db.compacting", "db.old", "compact.swap"] {
        assert!(!data.join(leftover).exists(), "{leftover} left behind");
    }
    assert_eq!(
        ok(&confab(&data, &["user", "list", "--json"])),
        users_before
    );
    assert_eq!(
        backup_body(&data, &dir.path().join("after.backup")),
        backup_before,
        "a backup after compaction holds the same records"
    );

    let server = BinaryServer::start(&data, FAST);
    let after = everything(&server, &tokens, &rooms).await;
    assert_eq!(after, before, "everything is still there after compaction");
    let history = after[format!("{general}: messages")]
        .as_array()
        .expect("history");
    let tomb = history
        .iter()
        .find(|m| m["id"] == doomed["id"])
        .expect("the tombstone keeps its place");
    assert_eq!(
        (&tomb["deleted"], &tomb["body"]),
        (&json!(true), &json!(""))
    );
    let hello = history
        .iter()
        .find(|m| m["id"] == edited["id"])
        .expect("edited");
    assert_eq!(hello["body"], "hello");
    assert!(hello["edited_at"].is_string());
    let morning = history
        .iter()
        .find(|m| m["id"] == kept["id"])
        .expect("kept");
    assert_eq!(morning["reactions"][0]["users"], json!(["bob"]));

    // The sequences continue: a new message's id is above every seq used before.
    let alice = as_user(&server, "alice", tokens[0].1);
    let last_seq = history.iter().map(seq).max().expect("seq").to_string();
    let next = post(&alice, &general, "after compaction").await;
    assert!(
        next["id"].as_str().expect("id") > last_seq.as_str(),
        "{next} after {last_seq}"
    );
    let bob = as_user(&server, "bob", tokens[1].1);
    let mut ws = bob.ws().await;
    ws.join(&private, None, 1).await;
    ws.send_json(json!({"type": "send", "room": private, "body": "still works", "nonce": "n-2"}))
        .await;
    let again = ws.recv_type("message").await;
    assert_eq!(again["nonce"], "n-2");
    let code = invite["code"].as_str().expect("invite code");
    let carol = server.client().register("carol").await;
    let (status, joined) = carol
        .post_empty(&format!("/api/invites/{code}/accept"))
        .await;
    assert_eq!(status, StatusCode::OK, "the invite survives: {joined}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_refuses_while_the_server_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BinaryServer::start(dir.path(), &[]);
    let alice = server.client().register("alice").await;
    let room = alice.create_room("busy").await;
    post(&alice, &room, "still here").await;
    fails_with(&confab(dir.path(), &["compact"]), "stop it first");
    assert!(!dir.path().join("db.compacting").exists());
    let history = all_messages(&alice, &room).await;
    assert_eq!(history.len(), 1, "the server is untouched");
    post(&alice, &room, "and serving").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_works_on_a_new_and_on_an_empty_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let output = ok(&confab(&empty, &["compact"]));
    assert!(output.contains("nothing to compact"), "{output}");
    assert_eq!(
        std::fs::read_dir(&empty).expect("read").count(),
        0,
        "compaction creates no database"
    );

    let new = dir.path().join("new");
    let server = BinaryServer::start(&new, &[]);
    sigterm(server);
    let output = ok(&confab(&new, &["compact"]));
    assert!(output.starts_with("compacted "), "{output}");
    let server = BinaryServer::start(&new, &[]);
    let alice = server.client().register("alice").await;
    let (_, me) = alice.get("/api/auth/me").await;
    assert_eq!(
        me["user"]["is_admin"], true,
        "the first account is the admin"
    );
}

#[test]
fn compact_on_a_missing_data_dir_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere");
    fails_with(&confab(&missing, &["compact"]), "does not exist");
    assert!(!missing.exists(), "nothing is created");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    fails_with(&confab(&file, &["compact"]), "not a directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_deletes_expired_rooms_first_and_their_bytes_leave_the_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let short = [
        ("CONFAB_ROOMS__TTL", "3s"),
        ("CONFAB_ROOMS__SWEEP_INTERVAL", "1h"),
    ];
    let server = BinaryServer::start(dir.path(), &short);
    let started = std::time::Instant::now();
    let alice = server.client().register("alice").await;
    let room = alice.create_room("fleeting").await;
    let secret = marker("expired");
    post(&alice, &room, &format!("gone with the room: {secret}")).await;
    sigterm(server);
    assert!(
        !files_holding(dir.path(), &secret).is_empty(),
        "the message was stored"
    );
    tokio::time::sleep(Duration::from_millis(3_500).saturating_sub(started.elapsed())).await;

    let output = ok(&confab(dir.path(), &["compact"]));
    assert!(output.contains("1 expired room deleted first"), "{output}");
    let files = files_holding(dir.path(), &secret);
    assert!(files.is_empty(), "{secret} is still in {files:?}");
    let server = BinaryServer::start(dir.path(), &[]);
    let alice = as_user(&server, "alice", alice.token.as_deref().expect("token"));
    let (status, _) = alice.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
