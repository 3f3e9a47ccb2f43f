//! The example bot (`examples/ping_bot.rs`) against the real server binary: it answers `!ping`
//! with a `pong` reply and nothing else, follows rooms it is added to, resumes after the server
//! restarts, stops on Ctrl-C, and refuses a bad token or URL with a clear message.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::cli::{confab, ok};
use common::{free_port, BinaryServer, Client, TestServer, Ws, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `target/<profile>/examples/ping_bot`, which `cargo test` builds along with the examples.
fn bot_binary() -> PathBuf {
    let confab = PathBuf::from(env!("CARGO_BIN_EXE_confab"));
    let dir = confab.parent().expect("target dir");
    let bot = dir
        .join("examples")
        .join(format!("ping_bot{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bot.exists(),
        "{} is missing: run `cargo test` (which builds the examples) or \
         `cargo build --example ping_bot` first",
        bot.display()
    );
    bot
}

/// A running bot process, killed when dropped, so a failing test leaks no process.
struct BotProcess {
    child: Child,
}

impl BotProcess {
    /// Starts the bot with `args`; its token, if any, comes through `CONFAB_TOKEN`.
    fn start(args: &[&str], token: Option<&str>, stderr: Stdio) -> Self {
        let mut command = Command::new(bot_binary());
        command
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("CONFAB_TOKEN")
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(token) = token {
            command.env("CONFAB_TOKEN", token);
        }
        Self {
            child: command.spawn().expect("the bot starts"),
        }
    }

    /// Waits for the bot to exit by itself; panics (and the guard kills it) after `within`.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the bot did not exit within {within:?}");
    }

    /// Runs to completion with stderr captured: its exit status and its stderr.
    fn run(args: &[&str], token: Option<&str>) -> (ExitStatus, String) {
        let mut bot = Self::start(args, token, Stdio::piped());
        let status = bot.wait_exit(Duration::from_secs(20));
        let mut stderr = String::new();
        if let Some(mut pipe) = bot.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("read stderr");
        }
        (status, stderr)
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the bot account with the real CLI (server stopped) and returns its token.
fn add_bot(data: &Path) -> String {
    let out = ok(&confab(data, &["bot", "add", "pingbot"], None));
    let secret = out.lines().last().expect("output").trim().to_string();
    assert!(secret.starts_with("cfb_"), "{out}");
    secret
}

/// Creates a private room (so the bot can only be in it when added) and returns its id.
async fn private_room(alice: &Client, name: &str) -> String {
    let (status, room) = alice
        .post("/api/rooms", json!({"name": name, "kind": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    room["id"].as_str().expect("id").to_string()
}

async fn add_member(alice: &Client, room: &str, user: &str) {
    let (status, body) = alice
        .put(&format!("/api/rooms/{room}/members/{user}"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Sends `body` over the WebSocket and returns the acknowledged message.
async fn say(ws: &mut Ws, room: &str, body: &str, nonce: &str) -> Value {
    ws.send_json(json!({"type": "send", "room": room, "body": body, "nonce": nonce}))
        .await;
    loop {
        let frame = ws.recv_type("message").await;
        if frame["nonce"] == nonce {
            return frame["message"].clone();
        }
    }
}

/// The next message the bot writes (panics after the harness's wait).
async fn from_bot(ws: &mut Ws) -> Value {
    loop {
        let frame = ws.recv_type("message").await;
        if frame["message"]["author"] == "pingbot" {
            return frame["message"].clone();
        }
    }
}

/// Waits until the bot has joined `room` (its presence reaches the joined socket).
async fn wait_online(ws: &mut Ws, room: &str) {
    loop {
        let frame = ws.recv_type("presence").await;
        if frame["room"] == room && frame["user"] == "pingbot" && frame["online"] == true {
            return;
        }
    }
}

fn assert_pong_to(pong: &Value, ping: &Value) {
    assert_eq!(pong["body"], "pong", "{pong}");
    assert_eq!(pong["reply_to"], ping["id"], "{pong} answers {ping}?");
    assert_eq!(pong["room"], ping["room"], "{pong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_answers_ping_and_nothing_else_in_every_room_it_is_added_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = add_bot(dir.path());
    let server = BinaryServer::start(dir.path(), &[]);
    let alice = server.client().register("alice").await;
    let room = private_room(&alice, "ops").await;
    add_member(&alice, &room, "pingbot").await;
    // History from before the bot started is not answered.
    alice.post_message(&room, "!ping").await;
    let mut ws = alice.ws().await;
    ws.join(&room, None, 1).await;

    let mut bot = BotProcess::start(&["--url", &server.base], Some(&secret), Stdio::inherit());
    wait_online(&mut ws, &room).await;
    let ping = say(&mut ws, &room, "!ping", "n1").await;
    assert_pong_to(&from_bot(&mut ws).await, &ping);

    // Other text gets no answer: the bot's next message answers the trimmed `!ping` after them.
    say(&mut ws, &room, "hello", "n2").await;
    say(&mut ws, &room, "!ping please", "n3").await;
    let ping = say(&mut ws, &room, "  !ping\n", "n4").await;
    assert_pong_to(&from_bot(&mut ws).await, &ping);

    // A room the bot is added to while running: the `added` frame makes it join.
    let later = private_room(&alice, "later").await;
    ws.join(&later, None, 0).await;
    add_member(&alice, &later, "pingbot").await;
    wait_online(&mut ws, &later).await;
    let ping = say(&mut ws, &later, "!ping", "n5").await;
    assert_pong_to(&from_bot(&mut ws).await, &ping);
    // Exactly one answer each, none to its own pongs.
    ws.expect_none_of("message", Duration::from_secs(1)).await;

    // Ctrl-C: a clean exit.
    #[cfg(unix)]
    {
        let pid = bot.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.expect("kill runs").success());
        let status = bot.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "Ctrl-C should exit 0: {status}");
    }
    drop(bot);
}

/// `confab serve` on a chosen port, so a restart keeps the URL the bot knows; killed on drop.
struct FixedPortServer {
    child: Child,
}

impl FixedPortServer {
    fn start(data: &Path, port: u16) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        // The server refuses unknown CONFAB_* variables: keep the test's own away from it.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CONFAB_") {
                command.env_remove(key);
            }
        }
        let mut server = Self {
            child: command.spawn().expect("server starts"),
        };
        common::wait_serving_on(port, &mut server.child);
        server
    }
}

impl Drop for FixedPortServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn login(base: &str) -> Client {
    let mut alice = Client::anonymous(base);
    let (status, body) = alice
        .post(
            "/api/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    alice.token = Some(body["token"].as_str().expect("token").to_string());
    alice
}

/// Pongs in `room`, polled over REST until there are `count` of them.
async fn pongs(alice: &Client, room: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = alice
            .get(&format!("/api/rooms/{room}/messages?limit=200"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let found: Vec<Value> = (body["messages"].as_array().expect("messages").iter())
            .filter(|m| m["author"] == "pingbot")
            .cloned()
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(Instant::now() < deadline, "expected {count} pongs: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_reconnects_and_answers_what_it_missed_after_a_server_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = add_bot(dir.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = FixedPortServer::start(dir.path(), port);
    let alice = Client::anonymous(&base).register("alice").await;
    let room = private_room(&alice, "ops").await;
    add_member(&alice, &room, "pingbot").await;
    let mut ws = alice.ws().await;
    ws.join(&room, None, 0).await;
    let _bot = BotProcess::start(
        &["--url", &base, "--token", &secret],
        None,
        Stdio::inherit(),
    );
    wait_online(&mut ws, &room).await;
    let first = say(&mut ws, &room, "!ping", "before").await;
    assert_pong_to(&from_bot(&mut ws).await, &first);

    // Killed and restarted on the same port: the ping is posted at once, most likely before the
    // bot is back, so it is answered from the replay after `after`.
    drop(ws);
    drop(server);
    let _server = FixedPortServer::start(dir.path(), port);
    let alice = login(&base).await;
    let missed = alice.post_message(&room, "!ping").await;
    let found = pongs(&alice, &room, 2).await;
    assert_pong_to(&found[1], &missed);
    // The first ping is not answered again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pongs(&alice, &room, 2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_or_url_stops_the_bot_with_a_clear_message() {
    let server = TestServer::start().await;
    let bogus = format!("cfb_{}", "x".repeat(43));
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let cases: [(&[&str], Option<&str>, &str); 4] = [
        (&["--url", &server.base], Some(&bogus), "refused the token"),
        (
            &["--url", "not a url", "--token", &bogus],
            None,
            "bad --url",
        ),
        (
            &["--url", "ftp://example.com", "--token", &bogus],
            None,
            "http://",
        ),
        (
            &["--url", &unreachable, "--token", &bogus],
            None,
            "cannot reach",
        ),
    ];
    for (args, token, expected) in cases {
        let (status, stderr) = BotProcess::run(args, token);
        assert!(!status.success(), "{args:?} should fail: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: {expected:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (status, stderr) = BotProcess::run(&["--url", &server.base], None);
    assert!(!status.success() && stderr.contains("--token"), "{stderr}");
    server.stop().await;
}
