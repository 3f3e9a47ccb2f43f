//! The admin CLI, run as the real binary against a stopped and a running server; backups under
//! live load; SIGTERM during traffic; secrets never reach the logs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cli::{confab, fails_with, ok};
use common::{BinaryServer, Client, Ws, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn login(client: &Client, username: &str, password: &str) -> StatusCode {
    client
        .post(
            "/api/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
        .0
}

async fn logged_in(server: &BinaryServer, username: &str) -> Client {
    let mut client = server.client();
    let (status, body) = client
        .post(
            "/api/auth/login",
            json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    client.token = Some(body["token"].as_str().expect("token").to_string());
    client
}

/// Every user command works the same with the server stopped (direct access) and running
/// (through its control socket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_work_with_the_server_stopped_and_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let password_line = format!("{PASSWORD}\n");

    // Stopped: create the first admin from the shell, as the README says.
    assert!(ok(&confab(
        data,
        &["user", "add", "root", "--admin", "--password-stdin"],
        Some(&password_line)
    ))
    .contains("created admin root"));
    ok(&confab(
        data,
        &["user", "add", "alice", "--password-stdin"],
        Some(&password_line),
    ));
    fails_with(
        &confab(
            data,
            &["user", "add", "ALICE", "--password-stdin"],
            Some(&password_line),
        ),
        "taken",
    );
    fails_with(
        &confab(
            data,
            &["user", "add", "x", "--password-stdin"],
            Some(&password_line),
        ),
        "username",
    );
    fails_with(
        &confab(data, &["user", "add", "bob"], None),
        "--password-stdin",
    );
    ok(&confab(data, &["user", "lock", "alice"], None));
    let list: Value =
        serde_json::from_str(&ok(&confab(data, &["user", "list", "--json"], None))).expect("json");
    assert_eq!(list[0]["username"], "alice");
    assert_eq!(list[0]["locked"], true);
    assert_eq!(list[1]["is_admin"], true);
    fails_with(
        &confab(data, &["user", "delete", "nobody"], None),
        "not found",
    );

    // Running: the same commands go through the server, and take effect at once.
    let server = BinaryServer::start(data, &[]);
    let client = server.client();
    assert_eq!(
        login(&client, "alice", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "locked"
    );
    ok(&confab(data, &["user", "unlock", "alice"], None));
    let alice = logged_in(&server, "alice").await;
    let table = ok(&confab(data, &["user", "list"], None));
    assert!(
        table.contains("USERNAME") && table.contains("alice") && table.contains("root"),
        "{table}"
    );

    // Locking cuts off open sockets and sessions immediately.
    let room = alice.create_room("lockout").await;
    let mut socket = Ws::connect(&server.base, alice.token.as_deref()).await;
    socket.join(&room, None, 0).await;
    ok(&confab(data, &["user", "lock", "alice"], None));
    assert_eq!(socket.closed_with().await, Some(confab::ws::CLOSE_REVOKED));
    assert_eq!(alice.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    ok(&confab(data, &["user", "unlock", "alice"], None));

    // A new password ends old sessions; the new one works.
    let alice = logged_in(&server, "alice").await;
    ok(&confab(
        data,
        &["user", "passwd", "alice", "--password-stdin"],
        Some("a brand new password\n"),
    ));
    assert_eq!(alice.get("/api/auth/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&client, "alice", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&client, "alice", "a brand new password").await,
        StatusCode::OK
    );

    ok(&confab(data, &["user", "admin", "alice", "--grant"], None));
    let list: Value =
        serde_json::from_str(&ok(&confab(data, &["user", "list", "--json"], None))).expect("json");
    assert_eq!(list[0]["is_admin"], true);
    ok(&confab(data, &["user", "admin", "alice", "--revoke"], None));
    ok(&confab(data, &["user", "delete", "alice"], None));
    assert_eq!(
        login(&client, "alice", "a brand new password").await,
        StatusCode::UNAUTHORIZED
    );
    drop(server);

    // And after the server is gone, direct access again (the stale socket is not in the way).
    let list: Value =
        serde_json::from_str(&ok(&confab(data, &["user", "list", "--json"], None))).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_commands_and_sweep_work_with_the_server_stopped_and_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let server = BinaryServer::start(data, &[]);
    let owner = server.client().register("owner").await;
    let first = owner.create_room("first").await;
    let second = owner.create_room("second").await;
    let mut socket = Ws::connect(&server.base, owner.token.as_deref()).await;
    socket.join(&first, None, 0).await;

    let rooms: Value =
        serde_json::from_str(&ok(&confab(data, &["room", "list", "--json"], None))).expect("json");
    assert_eq!(rooms.as_array().map(Vec::len), Some(2));
    assert!(ok(&confab(data, &["room", "list"], None)).contains("first"));
    ok(&confab(data, &["room", "delete", &first], None));
    assert_eq!(
        socket.recv_type("room_deleted").await["room"],
        first.as_str(),
        "people in it are told"
    );
    fails_with(
        &confab(data, &["room", "delete", &first], None),
        "not found",
    );
    fails_with(
        &confab(data, &["room", "delete", "garbage"], None),
        "not found",
    );
    assert!(ok(&confab(data, &["sweep"], None)).contains("swept 0"));
    drop(socket);
    drop(server);

    let rooms: Value =
        serde_json::from_str(&ok(&confab(data, &["room", "list", "--json"], None))).expect("json");
    assert_eq!(rooms[0]["id"], second.as_str());
    ok(&confab(data, &["room", "delete", &second], None));
    assert!(
        ok(&confab(data, &["room", "list"], None)).lines().count() == 1,
        "only the header is left"
    );
    assert!(ok(&confab(data, &["sweep"], None)).contains("swept"));
}

/// `confab room list --all`, `members`, `add-member` and `remove-member`, with the server running
/// (people online see the change at once) and stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_commands_work_with_the_server_stopped_and_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let server = BinaryServer::start(data, &[]);
    let owner = server.client().register("owner").await;
    let bob = server.client().register("bob").await;
    let (status, room) = owner
        .post("/api/rooms", json!({"name": "plans", "kind": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = room["id"].as_str().expect("id").to_string();
    let (status, dm) = owner.post("/api/dms", json!({"users": ["bob"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let dm = dm["id"].as_str().expect("id").to_string();
    let mut bob_socket = Ws::connect(&server.base, bob.token.as_deref()).await;

    let public: Value =
        serde_json::from_str(&ok(&confab(data, &["room", "list", "--json"], None))).expect("json");
    assert_eq!(public.as_array().map(Vec::len), Some(0), "{public}");
    let all: Value = serde_json::from_str(&ok(&confab(
        data,
        &["room", "list", "--all", "--json"],
        None,
    )))
    .expect("json");
    let kinds: BTreeMap<String, String> = all
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                r["kind"].to_string(),
            )
        })
        .collect();
    assert_eq!(kinds.get(&room).map(String::as_str), Some("\"private\""));
    assert_eq!(kinds.get(&dm).map(String::as_str), Some("\"direct\""));

    ok(&confab(data, &["room", "add-member", &room, "Bob"], None));
    let added = bob_socket.recv_type("added").await;
    assert_eq!(added["room"]["id"], room.as_str(), "bob is told at once");
    let members: Value = serde_json::from_str(&ok(&confab(
        data,
        &["room", "members", &room, "--json"],
        None,
    )))
    .expect("json");
    let roles: Vec<(String, String)> = members
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["username"].to_string(), m["role"].to_string()))
        .collect();
    assert_eq!(
        roles,
        [
            ("\"owner\"".to_string(), "\"owner\"".to_string()),
            ("\"bob\"".to_string(), "\"member\"".to_string())
        ]
    );
    assert_eq!(
        bob.get(&format!("/api/rooms/{room}/messages")).await.0,
        StatusCode::OK
    );
    ok(&confab(
        data,
        &["room", "remove-member", &room, "bob"],
        None,
    ));
    assert_eq!(bob_socket.recv_type("removed").await["room"], room.as_str());
    assert_eq!(
        bob.get(&format!("/api/rooms/{room}/messages")).await.0,
        StatusCode::NOT_FOUND
    );
    fails_with(
        &confab(data, &["room", "add-member", &room, "nobody"], None),
        "no user",
    );
    fails_with(
        &confab(data, &["room", "add-member", &dm, "owner"], None),
        "fixed",
    );
    fails_with(
        &confab(data, &["room", "remove-member", &room, "bob"], None),
        "not a member",
    );
    drop(bob_socket);
    drop(server);

    // Stopped: the same commands open the database directly.
    ok(&confab(
        data,
        &["room", "add-member", &room, "bob", "--owner"],
        None,
    ));
    let members = ok(&confab(data, &["room", "members", &room], None));
    assert!(
        members
            .lines()
            .any(|l| l.starts_with("bob") && l.contains("owner")),
        "{members}"
    );
    ok(&confab(
        data,
        &["room", "remove-member", &room, "owner"],
        None,
    ));
    let members = ok(&confab(data, &["room", "members", &room], None));
    assert_eq!(members.lines().count(), 2, "header and bob: {members}");
}

/// A backup written by confab before rooms had members (format version 1, made by that version's
/// own binary) restores: its rooms become public rooms of their creators and authors, everyone
/// can log in, read and post as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_from_before_membership_restores_with_authors_as_members() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backup-v1.confab");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let verified = ok(&confab(
        &data,
        &["backup", "verify", fixture.to_str().expect("path")],
        None,
    ));
    assert!(verified.contains("3 users"), "{verified}");
    ok(&confab(
        &data,
        &["backup", "restore", fixture.to_str().expect("path")],
        None,
    ));
    let server = BinaryServer::start(&data, &[]);
    let carol = logged_in(&server, "carol").await;
    let (status, listed) = carol.get("/api/rooms?member=true").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mine: Vec<&str> = listed["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(mine, ["random"], "carol wrote only in random");
    let (_, all) = carol.get("/api/rooms").await;
    let general = all["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["name"] == "general")
        .expect("general is listed")
        .clone();
    assert_eq!(general["kind"], "public");
    assert_eq!(general["is_member"], false);
    let id = general["id"].as_str().expect("id");
    let alice = logged_in(&server, "alice").await;
    let (_, members) = alice.get(&format!("/api/rooms/{id}/members")).await;
    let roles: Vec<(&str, &str)> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap_or(""),
                m["role"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(roles, [("alice", "owner"), ("bob", "member")]);
    let (_, history) = carol.get(&format!("/api/rooms/{id}/messages")).await;
    let bodies: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(bodies, ["hello from bob", "and again"]);
    let (status, _) = carol
        .post(
            &format!("/api/rooms/{id}/messages"),
            json!({"body": "carol was here"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "a public room takes posts");
    let (_, members) = alice.get(&format!("/api/rooms/{id}/members")).await;
    assert_eq!(members["members"].as_array().map(Vec::len), Some(3));
}

/// Reads every room's messages from a data directory, in order.
fn contents(data: &Path) -> BTreeMap<String, Vec<(String, String, String)>> {
    let output = confab(data, &["room", "list", "--json"], None);
    let rooms: Value = serde_json::from_str(&ok(&output)).expect("json");
    let store = confab::store::Store::open(data, 16).expect("open store");
    let mut all = BTreeMap::new();
    for room in rooms.as_array().expect("rooms") {
        let id: confab::ids::RoomId = room["id"].as_str().expect("id").parse().expect("room id");
        let page = confab::store::Page {
            after: Some(0),
            before: None,
            limit: usize::MAX,
        };
        let messages = store
            .messages(id, page)
            .expect("messages")
            .into_iter()
            .map(|(seq, m)| (format!("{seq:016x}"), m.author, m.body))
            .collect();
        all.insert(room["name"].as_str().expect("name").to_string(), messages);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_backup_under_load_restores_to_an_exact_consistent_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source");
    let restored = dir.path().join("restored");
    let file = dir.path().join("snapshot.backup");
    let server = BinaryServer::start(&source, &[]);
    let writer = server.client().register("writer").await;
    let rooms = [
        writer.create_room("alpha").await,
        writer.create_room("beta").await,
    ];
    for i in 0..50 {
        writer
            .post_message(&rooms[i % 2], &format!("before {i}"))
            .await;
    }

    // Keep posting while the backup runs.
    let load = {
        let writer = writer.clone();
        let rooms = rooms.clone();
        tokio::spawn(async move {
            let mut sent = 0;
            for i in 0..400 {
                let (status, _) = writer
                    .post(
                        &format!("/api/rooms/{}/messages", rooms[i % 2]),
                        json!({"body": format!("during {i}")}),
                    )
                    .await;
                if status == StatusCode::CREATED {
                    sent += 1;
                }
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let source_arg = source.clone();
    let file_arg = file.clone();
    let backup = tokio::task::spawn_blocking(move || {
        confab(
            &source_arg,
            &["backup", "create", file_arg.to_str().expect("path")],
            None,
        )
    })
    .await
    .expect("backup ran");
    assert!(ok(&backup).contains("backup written"));
    assert_eq!(
        load.await.expect("load"),
        400,
        "chat went on during the backup"
    );
    drop(server);

    assert!(ok(&confab(
        &restored,
        &["backup", "verify", file.to_str().expect("path")],
        None
    ))
    .contains("intact"));
    assert!(ok(&confab(
        &restored,
        &["backup", "restore", file.to_str().expect("path")],
        None
    ))
    .contains("restored"));
    let before = contents(&source);
    let after = contents(&restored);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "same rooms"
    );
    for (room, restored_messages) in &after {
        let original = &before[room];
        assert!(
            restored_messages.len() >= 25,
            "{room}: the messages from before the backup are there"
        );
        assert_eq!(
            &original[..restored_messages.len()],
            &restored_messages[..],
            "{room}: an exact, gap-free prefix"
        );
    }
    // The restored copy serves: users and passwords came along.
    let server = BinaryServer::start(&restored, &[]);
    assert_eq!(
        login(&server.client(), "writer", PASSWORD).await,
        StatusCode::OK
    );
    drop(server);

    // Restore refuses a data directory that holds data unless forced, and refuses a running server.
    fails_with(
        &confab(
            &source,
            &["backup", "restore", file.to_str().expect("path")],
            None,
        ),
        "--force",
    );
    let _running = BinaryServer::start(&source, &[]);
    fails_with(
        &confab(
            &source,
            &["backup", "restore", file.to_str().expect("path"), "--force"],
            None,
        ),
        "stop it first",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_backups_are_refused_and_restore_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&confab(
        &data,
        &["user", "add", "root", "--admin", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    ));
    let good = dir.path().join("good.backup");
    ok(&confab(
        &data,
        &["backup", "create", good.to_str().expect("path")],
        None,
    ));
    fails_with(
        &confab(
            &data,
            &["backup", "create", good.to_str().expect("path")],
            None,
        ),
        "already exists",
    );
    let bytes = std::fs::read(&good).expect("read");

    let truncated = dir.path().join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() - 20]).expect("write");
    let mut flipped_bytes = bytes.clone();
    let middle = flipped_bytes.len() / 2;
    flipped_bytes[middle] ^= 0x04;
    let flipped = dir.path().join("flipped.backup");
    std::fs::write(&flipped, &flipped_bytes).expect("write");
    let missing = dir.path().join("missing.backup");

    let empty = dir.path().join("empty-data");
    for (file, reason) in [
        (&truncated, "truncated"),
        (&flipped, "corrupt"),
        (&missing, "cannot read"),
    ] {
        let path = file.to_str().expect("path");
        fails_with(&confab(&empty, &["backup", "verify", path], None), reason);
        fails_with(&confab(&empty, &["backup", "restore", path], None), reason);
    }
    let users: Value =
        serde_json::from_str(&ok(&confab(&empty, &["user", "list", "--json"], None)))
            .expect("json");
    assert_eq!(users, json!([]), "nothing was restored from a damaged file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_traffic_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BinaryServer::start(
        dir.path(),
        &[
            ("CONFAB_LIMITS__SENDS_PER_SECOND", "100000"),
            ("CONFAB_LIMITS__SEND_BURST", "100000"),
        ],
    );
    let client = server.client().register("alice").await;
    let room = client.create_room("graceful").await;
    let mut ws = Ws::connect(&server.base, client.token.as_deref()).await;
    ws.join(&room, None, 0).await;

    let pid = server.child.id().to_string();
    let mut acked = Vec::new();
    let mut close_code = None;
    for i in 0..100_000 {
        if i == 200 {
            assert!(Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success());
        }
        let body = format!("m{i}");
        let frame = json!({"type": "send", "room": room, "body": body, "nonce": body}).to_string();
        if futures_util::SinkExt::send(
            &mut ws.socket,
            tokio_tungstenite::tungstenite::Message::text(frame),
        )
        .await
        .is_err()
        {
            break;
        }
        // Up to this send's acknowledgement (the member's own `room_activity` notices come
        // in between), or the close.
        let acknowledged = loop {
            match tokio::time::timeout(
                Duration::from_secs(5),
                futures_util::StreamExt::next(&mut ws.socket),
            )
            .await
            {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("json");
                    if value["type"] == "message" {
                        break Some(value["message"]["id"].as_str().expect("id").to_string());
                    }
                }
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                    close_code = frame.map(|f| u16::from(f.code));
                    break None;
                }
                _ => break None,
            }
        };
        match acknowledged {
            Some(id) => acked.push(id),
            None => break,
        }
    }
    assert_eq!(
        close_code,
        Some(1001),
        "sessions are closed with 1001 on shutdown"
    );
    let mut server = server;
    let status = tokio::task::spawn_blocking(move || server.wait_for_exit(Duration::from_secs(10)))
        .await
        .expect("join")
        .expect("exits within a few seconds of SIGTERM");
    assert!(status.success(), "SIGTERM exits 0");
    assert!(acked.len() >= 200);

    let server = BinaryServer::start(dir.path(), &[]);
    let mut reader = server.client();
    reader.token = client.token.clone();
    let mut stored = Vec::new();
    let mut after = "0000000000000000".to_string();
    loop {
        let (_, page) = reader
            .get(&format!(
                "/api/rooms/{room}/messages?limit=200&after={after}"
            ))
            .await;
        let page = page["messages"].as_array().expect("messages").clone();
        let Some(last) = page.last() else { break };
        after = last["id"].as_str().expect("id").to_string();
        stored.extend(
            page.iter()
                .map(|m| m["id"].as_str().expect("id").to_string()),
        );
    }
    for id in &acked {
        assert!(stored.contains(id), "acknowledged message {id} was lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_cookie_appears_in_the_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    common::wait_serving_on(port, &mut child);
    let secret = "super-secret-password-1";
    let mut client = Client::anonymous(&base);
    let (_, body) = client
        .post(
            "/api/auth/register",
            json!({"username": "alice", "password": secret}),
        )
        .await;
    let token = body["token"].as_str().expect("token").to_string();
    client
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": "wrong-password-2"}),
        )
        .await;
    client
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": secret}),
        )
        .await;
    client.token = Some(token.clone());
    let room = client.create_room("logs").await;
    client.post_message(&room, "hello").await;
    reqwest::Client::new()
        .get(format!("{base}/api/auth/me"))
        .header("cookie", format!("confab_session={token}"))
        .send()
        .await
        .expect("me");
    let mut ws = Ws::connect(&base, Some(&token)).await;
    ws.send_json(json!({"type": "ping"})).await;
    ws.recv_type("pong").await;
    drop(ws);
    client.post("/api/auth/logout", json!({})).await;

    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr)
        .expect("read logs");
    child.wait().expect("exits");
    assert!(
        stderr.contains("/api/auth/login"),
        "requests are logged: {stderr}"
    );
    for needle in [secret, "wrong-password-2", token.as_str()] {
        assert!(!stderr.contains(needle), "{needle:?} leaked into the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_written_verified_and_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backups = dir.path().join("backups");
    let backups_env = backups.to_str().expect("path").to_string();
    let server = BinaryServer::start(
        &dir.path().join("data"),
        &[
            ("CONFAB_BACKUP__EVERY", "1s"),
            ("CONFAB_BACKUP__DIR", &backups_env),
            ("CONFAB_BACKUP__KEEP", "2"),
        ],
    );
    let mut client = server.client();
    let (status, _) = client
        .post(
            "/api/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    client.token = None;
    tokio::time::sleep(Duration::from_millis(3600)).await;
    let scrape = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let age_line = scrape
        .lines()
        .find(|l| l.starts_with("confab_backup_last_success_timestamp_seconds"))
        .expect("backup metric");
    let stamp: f64 = age_line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("number");
    assert!(stamp > 1.0e9, "the backup time is exported: {age_line}");
    drop(server);
    let mut files: Vec<_> = std::fs::read_dir(&backups)
        .expect("backup dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        2,
        "only the newest `keep` backups remain: {files:?}"
    );
    let newest = files.last().expect("a backup");
    assert!(newest
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("confab-") && n.ends_with(".backup")));
    let check = dir.path().join("check");
    let verified = ok(&confab(
        &check,
        &["backup", "verify", newest.to_str().expect("path")],
        None,
    ));
    assert!(verified.contains("1 users"), "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_expired_since_the_backup_are_dropped_at_the_next_sweep_after_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source");
    let server = BinaryServer::start(&source, &[("CONFAB_ROOMS__TTL", "2s")]);
    let client = server.client().register("alice").await;
    let room = client.create_room("fleeting").await;
    client.post_message(&room, "soon gone").await;
    let file = dir.path().join("fleeting.backup");
    ok(&confab(
        &source,
        &["backup", "create", file.to_str().expect("path")],
        None,
    ));
    drop(server);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let target = dir.path().join("target");
    let restored = ok(&confab(
        &target,
        &["backup", "restore", file.to_str().expect("path")],
        None,
    ));
    assert!(
        restored.contains("1 rooms") && restored.contains("1 messages"),
        "{restored}"
    );
    assert!(ok(&confab(&target, &["sweep"], None)).contains("swept 1 expired room"));
    let store = confab::store::Store::open(&target, 16).expect("open");
    assert_eq!(
        (
            store.room_count().expect("count"),
            store.message_count().expect("count")
        ),
        (0, 0)
    );
}

/// Uploads to `room` over HTTP; returns the Attachment.
async fn upload(client: &Client, room: &str, name: &str, bytes: Vec<u8>) -> Value {
    let request = client
        .http
        .post(format!(
            "{}/api/rooms/{room}/attachments?name={name}",
            client.base
        ))
        .body(bytes);
    let (status, body) = client.send(request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn download(client: &Client, id: &str) -> (StatusCode, Vec<u8>) {
    let request = client
        .http
        .get(format!("{}/api/attachments/{id}", client.base))
        .bearer_auth(client.token.as_deref().expect("token"));
    let response = request.send().await.expect("download");
    let status = response.status();
    (status, response.bytes().await.expect("bytes").to_vec())
}

/// Files uploaded over HTTP (sent and unsent) go into a backup made with the CLI, are checked by
/// `verify`, and come back byte for byte from a restore into a new data directory; a file cut
/// in the middle of an attachment is refused and restores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_travel_in_backups_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source");
    let restored = dir.path().join("restored");
    let file = dir.path().join("with-files.backup");
    let server = BinaryServer::start(&source, &[]);
    let ann = server.client().register("ann").await;
    let room = ann.create_room("files").await;
    // 300 KiB of varied bytes: several data lines in the backup.
    let big: Vec<u8> = (0..300 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let sent = upload(&ann, &room, "data.bin", big.clone()).await;
    let kept = upload(&ann, &room, "notes.txt", b"unsent but kept".to_vec()).await;
    let (status, message) = ann
        .post(
            &format!("/api/rooms/{room}/messages"),
            json!({"body": "the data", "attachments": [sent["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    drop(server);

    let path = file.to_str().expect("path");
    assert!(ok(&confab(&source, &["backup", "create", path], None)).contains("2 attachments"));
    assert!(ok(&confab(&restored, &["backup", "verify", path], None)).contains("2 attachments"));
    assert!(ok(&confab(&restored, &["backup", "restore", path], None)).contains("restored"));
    let server = BinaryServer::start(&restored, &[]);
    let ann = logged_in(&server, "ann").await;
    for (attachment, bytes) in [(&sent, &big[..]), (&kept, &b"unsent but kept"[..])] {
        let (status, got) = download(&ann, attachment["id"].as_str().expect("id")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, bytes, "{attachment}");
    }
    let (_, history) = ann.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(
        history["messages"][0]["attachments"][0]["sha256"], sent["sha256"],
        "{history}"
    );
    drop(server);

    // Cut inside the big file's data lines.
    let bytes = std::fs::read(&file).expect("read");
    let marker = br#""type":"attachment_data""#;
    let first_data = bytes
        .windows(marker.len())
        .position(|window| window == marker)
        .expect("attachment data lines");
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..first_data + 1000]).expect("write");
    let empty = dir.path().join("empty");
    let cut = cut.to_str().expect("path");
    fails_with(
        &confab(&empty, &["backup", "verify", cut], None),
        "truncated",
    );
    fails_with(
        &confab(&empty, &["backup", "restore", cut], None),
        "truncated",
    );
    let leftovers = std::fs::read_dir(empty.join("attachments"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name() != "incoming")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "a refused restore leaves no files");
}
