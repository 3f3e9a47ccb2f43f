//! Test harness: a real confab server on an ephemeral port with a temporary data directory,
//! and real HTTP and WebSocket clients to talk to it.
#![allow(dead_code)]

pub mod cli;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use confab::app::RunningServer;
use confab::clock::SystemClock;
use confab::config::Config;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const PASSWORD: &str = "correct horse battery";

/// A real P-256 public key (the uncompressed point, base64), different for each `seed`.
pub fn p256_public_key(seed: u8) -> String {
    use base64ct::{Base64, Encoding};
    let secret = p256::SecretKey::from_slice(&[seed; 32]).expect("a valid scalar");
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    Base64::encode_string(point.as_bytes())
}

/// An identity key for encrypted rooms as `PUT /api/keys/me` takes it, around
/// `p256_public_key(seed)` (the wrapped private key is filler: the server never opens it).
pub fn identity_key(seed: u8) -> Value {
    use base64ct::{Base64, Encoding};
    json!({
        "public_key": p256_public_key(seed),
        "wrapped_private_key": Base64::encode_string(&[seed; 154]),
        "kdf": {"name": "PBKDF2", "hash": "SHA-256", "iterations": 600_000,
                "salt": Base64::encode_string(&[7; 16]), "iv": Base64::encode_string(&[9; 12])},
    })
}

/// Settings that keep tests fast: the real hashing, but no throttling surprises.
pub fn test_config(data: &Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data: data.to_path_buf(),
        ..Config::default()
    };
    config.storage.cache_mb = 16;
    // Uploads are refused below `min_free_disk` (512 MiB by default); a test machine's disk may
    // be nearly full, which is not what these tests are about.
    config.attachments.min_free_disk = 0;
    // Tests search many times in a row; the one test of the limit sets its own.
    config.search.per_minute = 100_000;
    config.search.burst = 10_000;
    config
}

/// A server running inside the test process.
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub data: PathBuf,
    server: Option<RunningServer>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        Self::start_config(config, Some(dir), Arc::new(SystemClock)).await
    }

    /// Starts on an existing data directory (owned by the caller).
    pub async fn start_in(data: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(data);
        adjust(&mut config);
        Self::start_config(config, None, Arc::new(SystemClock)).await
    }

    async fn start_config(
        config: Config,
        dir: Option<tempfile::TempDir>,
        clock: confab::clock::SharedClock,
    ) -> Self {
        let data = config.data.clone();
        let server = RunningServer::start(config, clock)
            .await
            .expect("server starts");
        let addr = server.addr;
        Self {
            base: format!("http://{addr}"),
            addr,
            data,
            server: Some(server),
            _dir: dir,
        }
    }

    /// Like `start_with`, with time from `clock` (a `ManualClock` lets expiry tests skip ahead).
    pub async fn start_with_clock(
        clock: confab::clock::SharedClock,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        Self::start_config(config, Some(dir), clock).await
    }

    pub fn state(&self) -> &confab::app::AppState {
        &self.server.as_ref().expect("running").state
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }

    pub fn client(&self) -> Client {
        Client::anonymous(&self.base)
    }

    /// Registers `username` and returns a client authenticated as them.
    pub async fn user(&self, username: &str) -> Client {
        self.client().register(username).await
    }
}

/// An HTTP client that may hold a bearer token.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
    pub username: String,
}

impl Client {
    /// A client of the server at `base`, not logged in.
    pub fn anonymous(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
            token: None,
            username: String::new(),
        }
    }

    /// Registers `username` (with `PASSWORD`) and returns this client authenticated as them.
    pub async fn register(self, username: &str) -> Client {
        self.authenticate("/api/auth/register", username, StatusCode::CREATED)
            .await
    }

    /// Logs in as `username` (registered earlier with `PASSWORD`, as `register` does).
    pub async fn login(self, username: &str) -> Client {
        self.authenticate("/api/auth/login", username, StatusCode::OK)
            .await
    }

    async fn authenticate(mut self, path: &str, username: &str, expected: StatusCode) -> Client {
        let credentials = json!({"username": username, "password": PASSWORD});
        let (status, body) = self.post(path, credentials).await;
        assert_eq!(status, expected, "{path} as {username}: {body}");
        self.token = Some(body["token"].as_str().expect("token").to_string());
        self.username = username.to_string();
        self
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = self.authorize(request).send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// POST without any body (join, leave, accept an invite).
    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)))
            .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// PUT with a JSON body, or with no body at all when `body` is `Value::Null`.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let request = self.http.put(format!("{}{path}", self.base));
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        self.send(request).await
    }

    /// Creates a room and returns its id.
    pub async fn create_room(&self, name: &str) -> String {
        let (status, body) = self.post("/api/rooms", json!({ "name": name })).await;
        assert_eq!(status, StatusCode::CREATED, "create room {name}: {body}");
        body["id"].as_str().expect("room id").to_string()
    }

    pub async fn post_message(&self, room: &str, body: &str) -> Value {
        let (status, message) = self
            .post(
                &format!("/api/rooms/{room}/messages"),
                json!({ "body": body }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "post message: {message}");
        message
    }

    pub async fn ws(&self) -> Ws {
        Ws::connect(&self.base, self.token.as_deref()).await
    }
}

/// A room where `sleeper` (bob) joined and stopped reading, and `sender` (alice) keeps reading,
/// on a server with a 16-frame outbound queue and no send limit: the setup for lag tests.
pub struct Firehose {
    pub server: TestServer,
    pub room: String,
    pub sleeper: Ws,
    pub sender: Ws,
}

impl Firehose {
    pub async fn start() -> Self {
        let server = TestServer::start_with(|c| {
            c.limits.outbound_queue = 16;
            c.limits.sends_per_second = 100_000;
            c.limits.send_burst = 100_000;
        })
        .await;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let room = alice.create_room("firehose").await;
        let mut sleeper = bob.ws().await;
        sleeper.join(&room, None, 0).await;
        let mut sender = alice.ws().await;
        sender.join(&room, None, 0).await;
        Self {
            server,
            room,
            sleeper,
            sender,
        }
    }

    /// Sends large messages, each waiting for its acknowledgement (the sender is never slowed or
    /// refused), until the hub has cut the sleeper off; returns how many were sent.
    pub async fn send_until_sleeper_is_cut_off(&mut self) -> u32 {
        let body = "x".repeat(3990);
        let hub = self.server.state().chat.hub();
        let mut sent = 0;
        while hub.subscription_count() == 2 {
            assert!(sent < 20_000, "the sleeper was never cut off");
            let nonce = format!("n{sent}");
            let frame = json!({"type": "send", "room": self.room, "body": body, "nonce": nonce});
            self.sender.send_json(frame).await;
            loop {
                let frame = self.sender.recv().await;
                assert_ne!(frame["type"], "error", "the room must keep going: {frame}");
                if frame["nonce"] == nonce.as_str() {
                    break;
                }
            }
            sent += 1;
        }
        sent
    }
}

/// Asserts that the messages' ids strictly increase: in order, no duplicates.
pub fn assert_ids_increase(messages: &[Value], what: &str) {
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "{what}: {ids:?}"
    );
}

/// Every message of `room`, oldest first, read page by page over REST.
pub async fn all_messages(client: &Client, room: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = "0000000000000000".to_string();
    loop {
        let path = format!("/api/rooms/{room}/messages?limit=200&after={after}");
        let (status, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["messages"].as_array().expect("messages").clone();
        match page.last().and_then(|m| m["id"].as_str()) {
            Some(last) => after = last.to_string(),
            None => return all,
        }
        all.extend(page);
    }
}

/// Asserts the JSON error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error without message: {body}"
    );
    code
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking confab's JSON protocol.
pub struct Ws {
    pub socket: Socket,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Ws {
    pub async fn connect(base: &str, token: Option<&str>) -> Self {
        let mut request = ws_url(base).into_client_request().expect("request");
        if let Some(token) = token {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("header"),
            );
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        Self { socket }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.socket
            .send(Message::text(value.to_string()))
            .await
            .expect("ws send");
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("ws send");
    }

    /// The next JSON frame (skipping pings), or a panic after `WAIT`.
    pub async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame within the wait")
                .expect("socket open")
                .expect("frame ok");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("json frame")
                }
                Message::Close(close) => panic!("socket closed: {close:?}"),
                _ => continue,
            }
        }
    }

    /// Skips frames until one of `kind` arrives.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Asserts no frame of `kind` arrives within `within` (others are skipped).
    pub async fn expect_none_of(&mut self, kind: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, self.socket.next()).await
        {
            if let Message::Text(text) = frame {
                let value: Value = serde_json::from_str(text.as_str()).expect("json frame");
                assert_ne!(value["type"], kind, "unexpected frame: {text}");
            }
        }
    }

    /// Asserts no text frame arrives within `within`.
    pub async fn expect_silence(&mut self, within: Duration) {
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(within, self.socket.next()).await
        {
            panic!("unexpected frame: {text}");
        }
    }

    /// Joins and returns the `joined` frame and the backlog that follows it (up to `replay_done`;
    /// at least `expect` messages).
    pub async fn join(
        &mut self,
        room: &str,
        after: Option<&str>,
        expect: usize,
    ) -> (Value, Vec<Value>) {
        let mut frame = json!({"type": "join", "room": room});
        if let Some(after) = after {
            frame["after"] = json!(after);
        }
        self.send_json(frame).await;
        let joined = self.recv_type("joined").await;
        // The backlog ends with `replay_done`; live frames come after it.
        let mut backlog = Vec::new();
        loop {
            let frame = self.recv().await;
            match frame["type"].as_str() {
                Some("message") => backlog.push(frame["message"].clone()),
                Some("replay_done") => break,
                _ => {}
            }
        }
        assert!(
            backlog.len() >= expect,
            "expected at least {expect} backlog messages, got {}",
            backlog.len()
        );
        (joined, backlog)
    }

    /// Waits for the server to close the socket and returns the close code.
    pub async fn closed_with(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("closes in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

pub fn ws_url(base: &str) -> String {
    format!("{}/api/ws", base.replacen("http://", "ws://", 1))
}

pub fn close_code(code: u16) -> CloseCode {
    CloseCode::from(code)
}

/// A confab process started from the built binary, for tests that kill it.
pub struct BinaryServer {
    pub base: String,
    pub child: Child,
}

impl BinaryServer {
    pub fn start(data: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::spawn(data, extra_env, Stdio::inherit())
    }

    /// Like `start`, but the server's log (warnings and errors) goes to the file `log`, for the
    /// test to read.
    pub fn start_logged(data: &Path, extra_env: &[(&str, &str)], log: &Path) -> Self {
        let file = std::fs::File::create(log)
            .unwrap_or_else(|err| panic!("create the log file {}: {err}", log.display()));
        Self::spawn(data, extra_env, Stdio::from(file))
    }

    fn spawn(data: &Path, extra_env: &[(&str, &str)], stderr: Stdio) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr);
        // The server reads its settings from CONFAB_* variables and refuses unknown ones: the
        // test's own (CONFAB_CRASH_KILLS, a developer's CONFAB_LISTEN) must not reach it.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CONFAB_") {
                command.env_remove(key);
            }
        }
        // See `test_config`: a nearly full test disk must not refuse uploads.
        command.env("CONFAB_ATTACHMENTS__MIN_FREE_DISK", "0");
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("binary starts");
        let mut server = Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let addr: SocketAddr = self
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("addr");
        if let Err(why) = wait_serving(addr, &mut self.child, Duration::from_secs(20)) {
            panic!("{why}");
        }
    }

    pub fn client(&self) -> Client {
        Client::anonymous(&self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself (after SIGTERM), up to `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL: no shutdown code runs, like a power cut for the process.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a server at `addr` answers `GET /healthz` with 200. A TCP connect alone shows only
/// that something holds the port; the answer shows that the server is up and serving.
pub fn answers_health(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

/// Waits until the spawned `child` serves on `addr` (see `answers_health`); says why not if it
/// exited first or did not come up `within`.
pub fn wait_serving(addr: SocketAddr, child: &mut Child, within: Duration) -> Result<(), String> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if answers_health(addr) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the server at {addr} exited during startup: {status}"
            ));
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "the server at {addr} did not answer GET /healthz within {within:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `wait_serving` for a server on `port` of 127.0.0.1, up to 20 s, panicking with the reason.
pub fn wait_serving_on(port: u16, child: &mut Child) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(why) = wait_serving(addr, child, Duration::from_secs(20)) {
        panic!("{why}");
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body) from a test peer's socket:
/// lowercase header names -> values, and the body.
pub async fn read_http_request(
    stream: &mut tokio::net::TcpStream,
) -> Option<(std::collections::HashMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = tokio::io::AsyncReadExt::read(stream, &mut chunk)
            .await
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers: std::collections::HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = tokio::io::AsyncReadExt::read(stream, &mut chunk)
            .await
            .ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((headers, body))
}
