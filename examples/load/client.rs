//! Talking to confab: REST setup calls (register, create room, post, read, any call with
//! retries) and WebSocket connections (optionally from a chosen loopback source address), plus a
//! cheap frame parser.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub const PASSWORD: &str = "load-test-password";

/// Registrations in flight when many users are needed (`--rooms-per-user`): half the server's
/// default `auth.hash_queue` (64), so the tool alone does not fill the queue (503 `busy`); the
/// server's `auth.hash_concurrency` decides how many hash at once anyway.
pub const REGISTER_IN_FLIGHT: usize = 32;

pub type Ws = WebSocketStream<TcpStream>;

#[derive(Clone)]
pub struct User {
    pub name: String,
    pub token: String,
}

/// REST calls against one server.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .expect("http client");
        Self {
            http,
            base: base.to_string(),
        }
    }

    /// Registers `count` users with unique names, one at a time: each registration hashes a
    /// password with argon2 (~20-50 ms of server CPU) and then flushes sled. One at a time
    /// dates from concurrent `flush_async` calls deadlocking sled 0.34.7 (spacejam/sled#1308;
    /// see docs/performance.md), since fixed in the server; the scenarios whose set-ups were
    /// recorded keep it. Busy answers are retried.
    pub async fn register_users(&self, count: usize) -> anyhow::Result<Vec<User>> {
        self.register_users_concurrently(count, 1).await
    }

    /// Registers `count` users with unique names, `in_flight` requests at a time; a 503 `busy`
    /// (the server's hash queue is full) or 429 is retried after a pause (see `register`).
    pub async fn register_users_concurrently(
        &self,
        count: usize,
        in_flight: usize,
    ) -> anyhow::Result<Vec<User>> {
        let prefix = run_prefix();
        let gate = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
        let mut tasks = Vec::new();
        for i in 0..count {
            let api = self.clone();
            let gate = gate.clone();
            let name = format!("{prefix}{i}");
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await;
                api.register(&name).await
            }));
        }
        let mut users = Vec::with_capacity(count);
        for task in tasks {
            users.push(task.await??);
        }
        Ok(users)
    }

    /// Registers one user named `name` (retrying while the server is busy) and returns its token.
    pub async fn register(&self, name: &str) -> anyhow::Result<User> {
        for _ in 0..100 {
            let response = self
                .http
                .post(format!("{}/api/auth/register", self.base))
                .json(&json!({"username": name, "password": PASSWORD}))
                .send()
                .await?;
            let status = response.status();
            if status.as_u16() == 503 || status.as_u16() == 429 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let body: serde_json::Value = response.json().await?;
            if status.as_u16() != 201 {
                bail!("register {name}: {status} {body}");
            }
            let token = body["token"].as_str().context("token")?.to_string();
            return Ok(User {
                name: name.to_string(),
                token,
            });
        }
        bail!("register {name}: server stayed busy")
    }

    /// Creates `count` rooms as `owner`, one at a time (each flushes sled: see `register_users`).
    pub async fn create_rooms(&self, owner: &User, count: usize) -> anyhow::Result<Vec<String>> {
        let prefix = run_prefix();
        let mut rooms = Vec::with_capacity(count);
        for i in 0..count {
            rooms.push(
                self.create_room(owner, format!("{prefix} room {i}"))
                    .await?,
            );
        }
        Ok(rooms)
    }

    /// Creates one room named `name` as `owner`; returns its id.
    pub async fn create_room(&self, owner: &User, name: String) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/api/rooms", self.base))
            .bearer_auth(&owner.token)
            .json(&json!({ "name": name }))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        if status.as_u16() != 201 {
            bail!("create room: {status} {body}");
        }
        Ok(body["id"].as_str().context("room id")?.to_string())
    }

    /// Posts a message and waits for the durable 201.
    pub async fn post_message(
        &self,
        user: &User,
        room: &str,
        body: &str,
        nonce: &str,
    ) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/api/rooms/{room}/messages", self.base))
            .bearer_auth(&user.token)
            .json(&json!({ "body": body, "nonce": nonce }))
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status.as_u16() != 201 {
            bail!("post: {status} {}", String::from_utf8_lossy(&bytes));
        }
        Ok(())
    }

    /// One REST call as `user`, retried while the server answers 503 or 429; fails on any
    /// status not in `expect`. Returns the status and the JSON body (null when empty).
    pub async fn call(
        &self,
        user: &User,
        method: Method,
        path: &str,
        body: Option<Value>,
        expect: &[u16],
    ) -> anyhow::Result<(u16, Value)> {
        for _ in 0..100 {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&user.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            if status == 503 || status == 429 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if !expect.contains(&status) {
                bail!(
                    "{method} {path} as {}: {status} {}",
                    user.name,
                    String::from_utf8_lossy(&bytes)
                );
            }
            let value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: body"))?
            };
            return Ok((status, value));
        }
        bail!("{method} {path}: the server stayed busy")
    }

    /// GET with the user's token; returns the body size (fails on non-2xx).
    pub async fn get(&self, user: &User, path_and_query: &str) -> anyhow::Result<usize> {
        Ok(self.get_body(user, path_and_query).await?.len())
    }

    /// GET with the user's token; returns the whole body (fails on non-2xx).
    pub async fn get_body(&self, user: &User, path_and_query: &str) -> anyhow::Result<Vec<u8>> {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .bearer_auth(&user.token)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            bail!(
                "GET {path_and_query}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(bytes.to_vec())
    }
}

/// A short prefix unique to this run, so runs against one `--url` server never collide.
pub fn run_prefix() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("ld{:x}_", micros % (1 << 40))
}

/// The loopback source address for connection `index` when spreading over `sources` addresses
/// (127.0.0.2, 127.0.0.3, ...): one address has only ~28k ephemeral ports towards one server.
pub fn source_for(index: usize, sources: usize) -> Option<IpAddr> {
    if sources <= 1 {
        return None;
    }
    let n = 2 + (index % sources) as u32;
    Some(IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + n)))
}

/// Opens an authenticated WebSocket. Small client buffers keep 10k connections cheap here too.
pub async fn connect(addr: SocketAddr, token: &str, source: Option<IpAddr>) -> anyhow::Result<Ws> {
    let mut request = format!("ws://{addr}/api/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    handshake(addr, source, request).await
}

/// Opens a WebSocket to the bare reference server (`bare.rs`) and joins `rooms` there (names
/// without spaces), all in one frame.
pub async fn connect_bare(
    addr: SocketAddr,
    rooms: &[String],
    source: Option<IpAddr>,
) -> anyhow::Result<Ws> {
    let request = format!("ws://{addr}/").into_client_request()?;
    let mut ws = handshake(addr, source, request).await?;
    ws.send(Message::text(format!("join {}", rooms.join(" "))))
        .await?;
    Ok(ws)
}

async fn handshake(
    addr: SocketAddr,
    source: Option<IpAddr>,
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let stream = socket.connect(addr).await.context("tcp connect")?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .context("websocket handshake")?;
    Ok(ws)
}

/// Joins `room` and waits for `joined`, skipping whatever else arrives first (presence, backlog).
pub async fn join(ws: &mut Ws, room: &str) -> anyhow::Result<()> {
    ws.send(Message::text(
        json!({"type": "join", "room": room}).to_string(),
    ))
    .await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .context("no answer to join within 60 s")?
            .context("closed while joining")??;
        if let Message::Text(text) = frame {
            let frame = Frame::parse(text.as_str())?;
            match frame.kind {
                "joined" => return Ok(()),
                "error" => bail!("join refused: {}", frame.code.unwrap_or("?")),
                _ => {}
            }
        }
    }
}

/// A `send` frame with a nonce.
pub fn send_frame(room: &str, body: &str, nonce: &str) -> Message {
    Message::text(json!({"type": "send", "room": room, "body": body, "nonce": nonce}).to_string())
}

/// What a bare-reference sender sends: already the shape of confab's `message` frame (the bare
/// server relays it untouched), without an id order or a nonce.
pub fn bare_message_frame(body: &str) -> Message {
    Message::text(bare_message(body))
}

/// The same for a connection joined to several bare rooms: `ROOM\n` names the room to relay to.
pub fn bare_routed_frame(room: &str, body: &str) -> Message {
    Message::text(format!("{room}\n{}", bare_message(body)))
}

fn bare_message(body: &str) -> String {
    json!({"type": "message", "message": {"id": "", "body": body}}).to_string()
}

const ROOM_ACTIVITY_PREFIX: &str = r#"{"type":"room_activity","#;

/// The parts of a server frame the tool looks at; borrowed from the text where possible.
pub struct Frame<'a> {
    pub kind: &'a str,
    pub message: Option<FrameMessage<'a>>,
    pub nonce: Option<Cow<'a, str>>,
    pub code: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct FrameMessage<'a> {
    pub id: &'a str,
    #[serde(borrow)]
    pub body: Cow<'a, str>,
}

/// `message` frames, the hot path: `message` is an object.
#[derive(Deserialize)]
struct MessageFrame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    message: FrameMessage<'a>,
    #[serde(borrow)]
    nonce: Option<Cow<'a, str>>,
}

/// Every other frame (in `error` frames, `message` is a text, so it is not read here).
#[derive(Deserialize)]
struct OtherFrame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    nonce: Option<Cow<'a, str>>,
    code: Option<&'a str>,
}

impl<'a> Frame<'a> {
    pub fn parse(text: &'a str) -> serde_json::Result<Self> {
        // Per-member notices the tool only counts (room_activity is the server's own frame
        // layout, `type` first): not parsed, so their cost stays on the server's side of the
        // measurement instead of the tool's, which shares the machine.
        if text.starts_with(ROOM_ACTIVITY_PREFIX) {
            return Ok(Self {
                kind: "room_activity",
                message: None,
                nonce: None,
                code: None,
            });
        }
        if let Ok(frame) = serde_json::from_str::<MessageFrame>(text) {
            return Ok(Self {
                kind: frame.kind,
                message: Some(frame.message),
                nonce: frame.nonce,
                code: None,
            });
        }
        let frame: OtherFrame = serde_json::from_str(text)?;
        Ok(Self {
            kind: frame.kind,
            message: None,
            nonce: frame.nonce,
            code: frame.code,
        })
    }
}

/// A body of at least `size` bytes starting with `header`.
pub fn padded(header: String, size: usize) -> String {
    let mut body = header;
    if body.len() < size {
        body.push(' ');
        while body.len() < size {
            body.push('x');
        }
    }
    body
}
