//! A small confab bot: answers every message whose body is `!ping` with `pong`, as a reply.
//!
//! ```text
//! confab bot add pingbot --owner alice          # prints the token on its last line
//! cargo run --example ping_bot -- --url http://127.0.0.1:8080 --token cfb_...
//! ```
//!
//! It shows what a robust bot needs (docs/api.md, "Write a bot"; docs/protocol.md): a bearer
//! token on the WebSocket upgrade, joining every room it is a member of and the rooms it is added
//! to later, a deterministic nonce per send, and reconnecting with backoff while resuming each
//! room from its replay cursor, so no `!ping` sent while it was away goes unanswered.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "A confab bot that answers `!ping` with `pong`")]
struct Cli {
    /// The confab server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The bot's access token (`cfb_...`, scopes read and write).
    #[arg(long, env = "CONFAB_TOKEN", hide_env_values = true)]
    token: String,
}

/// Why a connection ended, when it did not end with Ctrl-C.
enum Failure {
    /// The server refused us (bad or revoked token): retrying cannot help.
    Fatal(anyhow::Error),
    /// Network trouble, a server restart, a lagged connection: reconnect and resume.
    Retry(anyhow::Error),
}

/// The server frames this bot cares about; the rest (presence, typing, ...) are ignored.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    Message {
        message: ChatMessage,
    },
    MessageUpdated {
        message: ChatMessage,
    },
    ReplayDone {
        room: String,
        cursor: String,
    },
    Added {
        room: Room,
    },
    Removed {
        room: String,
    },
    RoomDeleted {
        room: String,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ChatMessage {
    id: String,
    room: String,
    author: String,
    body: String,
    /// Present once the message was changed: then it, not the id, is the replay cursor.
    seq: Option<String>,
}

#[derive(Deserialize)]
struct Room {
    id: String,
}

/// What the bot remembers across connections: who it is, and per room the replay cursor (the
/// highest `seq`, or id, seen live; `None` until the first `replay_done`).
struct Bot {
    http: reqwest::Client,
    base: Url,
    token: String,
    me: String,
    cursors: HashMap<String, Option<String>>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ping_bot: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Checks the URL and the token once, so mistakes fail fast with a clear message, then keeps a
/// connection up until Ctrl-C, backing off after each drop.
async fn run(cli: Cli) -> anyhow::Result<()> {
    let base = Url::parse(&cli.url).with_context(|| format!("bad --url {:?}", cli.url))?;
    // Built without TLS (like confab's tests): put an https server's plain listener here instead.
    if base.scheme() != "http" {
        return Err(anyhow!("--url must be an http:// URL, not {base}"));
    }
    let mut bot = Bot {
        http: reqwest::Client::new(),
        base,
        // A token pasted from a file often ends with a newline; it is never part of the secret.
        token: cli.token.trim().to_string(),
        me: String::new(),
        cursors: HashMap::new(),
    };
    let me = bot
        .get("/api/auth/me")
        .await
        .map_err(|failure| match failure {
            Failure::Fatal(err) | Failure::Retry(err) => err,
        })?;
    bot.me = me["user"]["username"]
        .as_str()
        .context("/api/auth/me answered without a username")?
        .to_string();
    tracing::info!(user = %bot.me, "token accepted");

    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });

    let mut backoff = Duration::from_secs(1);
    loop {
        match bot.session(&shutdown, &mut backoff).await {
            Ok(()) => return Ok(()),
            Err(Failure::Fatal(err)) => return Err(err),
            Err(Failure::Retry(err)) => tracing::warn!("connection lost: {err:#}"),
        }
        // Jitter, so many bots do not reconnect in lockstep after a server restart.
        let jitter = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_millis() % 500);
        let wait = backoff + Duration::from_millis(jitter.into());
        tracing::info!("reconnecting in {wait:?}");
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

impl Bot {
    /// A GET with the token: 401/403 are fatal (the token is wrong or lacks a scope).
    async fn get(&self, path: &str) -> Result<Value, Failure> {
        let url = self.base.join(path).map_err(|e| Failure::Fatal(e.into()))?;
        let response = (self.http.get(url).bearer_auth(&self.token).send().await)
            .map_err(|e| Failure::Retry(anyhow!("cannot reach {}: {e}", self.base)))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let reason = body["error"]["message"]
            .as_str()
            .unwrap_or("not a confab answer");
        let err = anyhow!("GET {path} answered {status}: {reason}");
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Failure::Fatal(err.context("the server refused the token"))
            }
            _ => Failure::Retry(err),
        })
    }

    /// One WebSocket connection: join every room, answer pings, until it drops or Ctrl-C.
    async fn session(
        &mut self,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
    ) -> Result<(), Failure> {
        let mut ws_url = self
            .base
            .join("/api/ws")
            .map_err(|e| Failure::Fatal(e.into()))?;
        let _ = ws_url.set_scheme("ws");
        let mut request = ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| Failure::Fatal(e.into()))?;
        let bearer = format!("Bearer {}", self.token).parse();
        request.headers_mut().insert(
            "authorization",
            bearer.map_err(|_| Failure::Fatal(anyhow!("bad token")))?,
        );
        let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
            Ok(connected) => connected,
            Err(tungstenite::Error::Http(response))
                if matches!(response.status().as_u16(), 401 | 403) =>
            {
                let status = response.status();
                return Err(Failure::Fatal(anyhow!(
                    "the server refused the token ({status})"
                )));
            }
            Err(err) => return Err(Failure::Retry(err.into())),
        };
        *backoff = Duration::from_secs(1);

        // Rooms we were added to while away are found here; rooms we left drop out.
        let rooms = self.get("/api/rooms?member=true").await?;
        let member_of: Vec<String> = (rooms["rooms"].as_array().into_iter().flatten())
            .filter_map(|room| room["id"].as_str().map(str::to_string))
            .collect();
        self.cursors.retain(|id, _| member_of.contains(id));
        // Per room of this connection: the `after` it joined with, until its replay is done.
        let mut replaying: HashMap<String, Option<String>> = HashMap::new();
        for id in member_of {
            let after = self.cursors.entry(id.clone()).or_default().clone();
            send(&mut socket, join_frame(&id, after.as_deref())).await?;
            replaying.insert(id, after);
        }
        tracing::info!(rooms = replaying.len(), "connected");

        // The server pings us, but a half-open TCP connection stays silent: our own `ping`
        // frame gets a `pong`, so 60 s without any frame means the connection is dead.
        let mut keepalive = tokio::time::interval(Duration::from_secs(30));
        let mut last_heard = tokio::time::Instant::now();
        loop {
            let frame = tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = socket.close(None).await;
                    tracing::info!("stopped");
                    return Ok(());
                }
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > Duration::from_secs(60) {
                        return Err(Failure::Retry(anyhow!("no answer for 60 s")));
                    }
                    send(&mut socket, json!({"type": "ping"})).await?;
                    continue;
                }
                frame = socket.next() => frame,
            };
            last_heard = tokio::time::Instant::now();
            let text = match frame {
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(WsMessage::Close(Some(close)))) if u16::from(close.code) == 4003 => {
                    return Err(Failure::Fatal(anyhow!(
                        "the token was revoked (close 4003)"
                    )));
                }
                Some(Ok(WsMessage::Close(close))) => {
                    return Err(Failure::Retry(anyhow!("closed by the server: {close:?}")));
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(Failure::Retry(err.into())),
                None => return Err(Failure::Retry(anyhow!("connection closed"))),
            };
            match serde_json::from_str::<Frame>(text.as_str()) {
                Ok(Frame::Message { message }) => {
                    let answer = match replaying.get(&message.room) {
                        // Replayed after a reconnect: what is newer than our cursor is what we
                        // missed; older ids are changed messages we already saw (and answered).
                        Some(after) => after.as_ref().is_some_and(|a| message.id > *a),
                        // A fresh join replays old history: only answer what is said from now.
                        None => {
                            self.advance(&message);
                            true
                        }
                    };
                    if answer && message.author != self.me && message.body.trim() == "!ping" {
                        // The nonce comes from the ping's id, so answering the same ping twice
                        // (a resend after a drop) stores one pong.
                        let pong = json!({"type": "send", "room": message.room, "body": "pong",
                            "reply_to": message.id, "nonce": format!("pong-{}", message.id)});
                        send(&mut socket, pong).await?;
                    }
                }
                Ok(Frame::MessageUpdated { message }) if !replaying.contains_key(&message.room) => {
                    self.advance(&message);
                }
                Ok(Frame::ReplayDone { room, cursor }) => {
                    replaying.remove(&room);
                    self.cursors.insert(room, Some(cursor));
                }
                Ok(Frame::Added { room }) if !self.cursors.contains_key(&room.id) => {
                    tracing::info!(room = %room.id, "added to a room");
                    send(&mut socket, join_frame(&room.id, None)).await?;
                    self.cursors.insert(room.id.clone(), None);
                    replaying.insert(room.id, None);
                }
                Ok(Frame::Removed { room } | Frame::RoomDeleted { room }) => {
                    self.cursors.remove(&room);
                    replaying.remove(&room);
                }
                Ok(Frame::Error { code, message }) => tracing::warn!(%code, "refused: {message}"),
                Ok(_) => {}
                Err(err) => tracing::warn!("unexpected frame {text}: {err}"),
            }
        }
    }

    /// Moves a room's cursor to a live frame's `seq` (or id); live frames come in sequence order.
    fn advance(&mut self, message: &ChatMessage) {
        let seen = message.seq.as_ref().unwrap_or(&message.id);
        if let Some(cursor) = self.cursors.get_mut(&message.room) {
            if cursor.as_ref().map_or(true, |c| seen > c) {
                *cursor = Some(seen.clone());
            }
        }
    }
}

fn join_frame(room: &str, after: Option<&str>) -> Value {
    match after {
        Some(after) => json!({"type": "join", "room": room, "after": after}),
        None => json!({"type": "join", "room": room}),
    }
}

async fn send<S>(socket: &mut S, frame: Value) -> Result<(), Failure>
where
    S: SinkExt<WsMessage, Error = tungstenite::Error> + Unpin,
{
    (socket.send(WsMessage::text(frame.to_string())).await)
        .map_err(|e| Failure::Retry(anyhow!("send failed: {e}")))
}
