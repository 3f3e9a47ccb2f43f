//! One WebSocket connection: reads client frames, writes hub events, and closes cleanly on
//! lag (4008), idle timeout, server shutdown (1001) or the client going away.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::handshake::Socket;
use super::protocol::{self, ClientFrame};
use super::rate::TokenBucket;
use crate::app::AppState;
use crate::auth::tokens;
use crate::chat::changes::Change;
use crate::chat::connection::{ConnectionSlot, Kick};
use crate::chat::encryption::sealed_fields;
use crate::chat::events::{Event, EventKind};
use crate::chat::model::User;
use crate::chat::{Connection, Draft};
use crate::error::Error;
use crate::ids::{MessageId, RoomId};

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Frames written per backlog page while replaying a join.
const BACKLOG_PAGE: usize = 200;
/// Messages replayed on a join without `after`.
const JOIN_BACKLOG: usize = 50;
/// Close code for a connection that could not keep up with its rooms.
pub const CLOSE_LAGGED: u16 = 4008;
/// Close code for a connection whose user was locked, deleted or logged out everywhere.
pub const CLOSE_REVOKED: u16 = 4003;

type Sink = futures_util::stream::SplitSink<Socket, Message>;

/// Why a session ended, for the log.
enum End {
    ClientClosed,
    Lagged,
    Revoked,
    Idle,
    Shutdown,
    WriteFailed,
}

/// Runs one connection until it ends. `slot` is its place in the hub's registry and counts;
/// dropping it at the end (or on unwinding) frees the place.
///
/// The setup is done before the future is built, so the future holds only what the loop uses:
/// an `async fn` would keep its arguments (the socket above all) beside the values made from
/// them, in every idle connection's task.
pub fn run(
    socket: Socket,
    state: AppState,
    user: User,
    token: String,
    can_write: bool,
    mut slot: ConnectionSlot,
) -> impl std::future::Future<Output = ()> + Send {
    let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    let limits = &state.config.limits;
    let (connection, mut events) = Connection::new(
        id,
        user.username.clone(),
        tokens::hash(&token),
        limits.outbound_queue,
        state.chat.metrics().clone(),
    );
    let (mut sink, mut stream) = socket.split();
    let idle = limits.ws_idle_timeout;
    let sends = TokenBucket::new(limits.sends_per_second, limits.send_burst);
    let mut session = Session {
        user,
        state,
        connection,
        joined: HashSet::new(),
        sends,
        last_typing: None,
        can_write,
    };
    session.state.metrics.connection_opened();
    slot.register(&session.connection);
    async move {
        let mut keepalive = tokio::time::interval(idle / 3);
        keepalive.reset();
        // Built once and polled across iterations: a busy connection goes round this loop for
        // every frame, and re-creating these futures each time registers and drops a waiter
        // or a timer entry per frame.
        let shutdown = session.state.shutdown.clone().cancelled_owned();
        let kicked = session.connection.kicked.clone().cancelled_owned();
        let idle_timer = sleep_until(Instant::now() + idle);
        tokio::pin!(shutdown, kicked, idle_timer);

        let end = loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break End::Shutdown,
                () = &mut kicked => break match session.connection.kick_reason() {
                    Some(Kick::Revoked) => End::Revoked,
                    _ => End::Lagged,
                },
                event = events.recv() => {
                    let Some(event) = event else { break End::Lagged };
                    if bounded(write_events(&mut sink, &mut events, event, &mut session.joined)).await.is_err() {
                        break End::WriteFailed;
                    }
                }
                frame = stream.next() => {
                    idle_timer.as_mut().reset(Instant::now() + idle);
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            // Boxed: handling a frame (a join's replay above all) is the largest
                            // state of this loop, and every idle connection's task would carry it.
                            let handled = Box::pin(session.handle_text(&text, &mut sink));
                            if bounded(handled).await.is_err() {
                                break End::WriteFailed;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            let refusal = protocol::bad_request("frames must be JSON text");
                            if bounded(send(&mut sink, refusal)).await.is_err() {
                                break End::WriteFailed;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break End::ClientClosed,
                        Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                    }
                }
                _ = keepalive.tick() => {
                    // Sessions expire and get revoked while sockets stay open: check again.
                    if session.state.accounts.authenticate(&token).is_err() {
                        break End::Revoked;
                    }
                    if bounded(async { sink.send(Message::Ping(Default::default())).await.map_err(|_| ()) }).await.is_err() {
                        break End::WriteFailed;
                    }
                }
                () = &mut idle_timer => break End::Idle,
            }
        };

        let close = match end {
            End::Lagged => Some((CloseCode::from(CLOSE_LAGGED), "lagged")),
            End::Revoked => Some((CloseCode::from(CLOSE_REVOKED), "session revoked")),
            End::Shutdown => Some((CloseCode::Away, "server shutting down")),
            End::Idle => Some((CloseCode::Away, "idle timeout")),
            End::ClientClosed | End::WriteFailed => None,
        };
        if let Some((code, reason)) = close {
            // Bounded: a client that stopped reading must not hold this task forever.
            let closing = sink.send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })));
            let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
        }
        for room in session.joined.drain() {
            session.state.chat.leave(&session.connection, room);
        }
        drop(slot);
        session.state.metrics.connection_closed();
        tracing::debug!(connection = id, user = %session.user.username, reason = end.describe(), "websocket closed");
    }
}

impl End {
    fn describe(&self) -> &'static str {
        match self {
            End::ClientClosed => "client closed",
            End::Lagged => "lagged",
            End::Revoked => "revoked",
            End::Idle => "idle",
            End::Shutdown => "shutdown",
            End::WriteFailed => "write failed",
        }
    }
}

/// How long one write may wait on a client that does not read before the session gives up:
/// without it a stalled client would also block lag, revocation and shutdown handling.
const WRITE_STALL: Duration = Duration::from_secs(15);

/// A plain combinator, not an `async fn`: that would hold `write` twice (as its argument and
/// inside the timeout) in the state of every connection's task.
fn bounded(
    write: impl std::future::Future<Output = Result<(), ()>>,
) -> impl std::future::Future<Output = Result<(), ()>> {
    tokio::time::timeout(WRITE_STALL, write).map(|written| written.unwrap_or(Err(())))
}

async fn send(sink: &mut Sink, text: String) -> Result<(), ()> {
    sink.send(Message::text(text)).await.map_err(|_| ())
}

/// Writes `first` and every other event already queued, then flushes once: a busy connection
/// pays one syscall for many frames.
async fn write_events(
    sink: &mut Sink,
    events: &mut tokio::sync::mpsc::Receiver<Arc<Event>>,
    first: Arc<Event>,
    joined: &mut HashSet<RoomId>,
) -> Result<(), ()> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(event) = next {
        if let EventKind::RoomDeleted { room } | EventKind::Removed { room } = &event.kind {
            joined.remove(room);
        }
        let text = event.encoded(protocol::encode_event);
        sink.feed(Message::Text(text)).await.map_err(|_| ())?;
        written += 1;
        next = if written < 256 {
            events.try_recv().ok()
        } else {
            None
        };
    }
    sink.flush().await.map_err(|_| ())
}

struct Session {
    user: User,
    state: AppState,
    connection: Arc<Connection>,
    joined: HashSet<RoomId>,
    sends: TokenBucket,
    last_typing: Option<Instant>,
    /// False for an access token without the `write` scope: it may join and receive, and every
    /// frame that changes something is answered `insufficient_scope`.
    can_write: bool,
}

/// Typing notices beyond one per this interval are dropped silently: they are hints, and a
/// flood of them must not fill other members' queues.
const TYPING_INTERVAL: Duration = Duration::from_millis(1000);

impl Session {
    fn typing_allowed(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last_typing
            .is_some_and(|last| now.duration_since(last) < TYPING_INTERVAL)
        {
            return false;
        }
        self.last_typing = Some(now);
        true
    }

    /// Handles one client frame. Errors that are the client's fault become error frames and the
    /// connection stays open; only a failed write ends it.
    async fn handle_text(&mut self, text: &str, sink: &mut Sink) -> Result<(), ()> {
        if text.len() > self.state.config.limits.max_frame_bytes {
            let err = Error::TooLarge(format!(
                "frames have at most {} bytes",
                self.state.config.limits.max_frame_bytes
            ));
            return send(sink, protocol::error(&err, None)).await;
        }
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(err) => {
                return send(
                    sink,
                    protocol::bad_request(&format!("invalid frame: {err}")),
                )
                .await
            }
        };
        if !self.can_write && frame.writes() {
            let refused = Error::refused(
                "insufficient_scope",
                "this access token lacks the `write` scope",
            );
            return send(sink, protocol::error(&refused, frame.nonce())).await;
        }
        match frame {
            ClientFrame::Ping {} => send(sink, protocol::pong()).await,
            ClientFrame::Join { room, after } => self.join(&room, after.as_deref(), sink).await,
            ClientFrame::Leave { room } => {
                if let Ok(room) = room.parse::<RoomId>() {
                    self.joined.remove(&room);
                    self.state.chat.leave(&self.connection, room);
                }
                Ok(())
            }
            ClientFrame::Read { room, message } => {
                let marked = parse_room(&room).and_then(|room| {
                    let message = message.parse().map_err(|e: crate::ids::InvalidMessageId| {
                        Error::invalid("invalid_marker", format!("message: {e}"))
                    })?;
                    self.state
                        .chat
                        .mark_read(room, &self.user, message, Some(self.connection.id))
                });
                match marked {
                    Ok(_) => Ok(()),
                    Err(err) => send(sink, protocol::error(&err, None)).await,
                }
            }
            ClientFrame::Typing { .. } if !self.typing_allowed() => Ok(()),
            ClientFrame::Typing { room } => {
                match parse_room(&room).and_then(|r| self.state.chat.typing(&self.connection, r)) {
                    Ok(()) => Ok(()),
                    Err(err) => send(sink, protocol::error(&err, None)).await,
                }
            }
            ClientFrame::Send {
                room,
                body,
                nonce,
                reply_to,
                attachments,
                ciphertext,
                iv,
                key_version,
                mentions,
            } => {
                let result = self.rate_limited().and_then(|()| {
                    let room = parse_room(&room)?;
                    let reply_to = reply_to
                        .map(|id| {
                            id.parse::<MessageId>().map_err(|e| {
                                Error::invalid("bad_request", format!("reply_to: {e}"))
                            })
                        })
                        .transpose()?;
                    let draft = Draft {
                        body,
                        nonce: nonce.clone(),
                        reply_to,
                        webhook: None,
                        attachments,
                        sealed: sealed_fields(ciphertext, iv, key_version)?,
                        mentions,
                    };
                    self.state
                        .chat
                        .send_from_socket(&self.connection, room, draft)
                });
                match result {
                    Ok(()) => Ok(()),
                    Err(err) => send(sink, protocol::error(&err, nonce.as_deref())).await,
                }
            }
            ClientFrame::Edit {
                room,
                message,
                body,
                nonce,
                ciphertext,
                iv,
                key_version,
            } => {
                let result = Change::edit(body, sealed_fields(ciphertext, iv, key_version))
                    .and_then(|change| self.change(&room, &message, change, nonce.clone()));
                match result {
                    Ok(()) => Ok(()),
                    Err(err) => send(sink, protocol::error(&err, nonce.as_deref())).await,
                }
            }
            ClientFrame::Delete { room, message } => {
                match self.change(&room, &message, Change::Delete, None) {
                    Ok(()) => Ok(()),
                    Err(err) => send(sink, protocol::error(&err, None)).await,
                }
            }
            ClientFrame::React {
                room,
                message,
                emoji,
                on,
            } => match self.change(&room, &message, Change::React { emoji, on }, None) {
                Ok(()) => Ok(()),
                Err(err) => send(sink, protocol::error(&err, None)).await,
            },
        }
    }

    /// Sends, edits, deletions and reactions share one budget per connection.
    fn rate_limited(&mut self) -> Result<(), Error> {
        if self.sends.try_take() {
            Ok(())
        } else {
            Err(Error::RateLimited {
                retry_after_secs: 1,
            })
        }
    }

    fn change(
        &mut self,
        room: &str,
        message: &str,
        change: Change,
        nonce: Option<String>,
    ) -> Result<(), Error> {
        self.rate_limited()?;
        let room = parse_room(room)?;
        let message = message
            .parse::<MessageId>()
            .map_err(|_| Error::NotFound("message"))?;
        self.state.chat.change_from_socket(
            &self.connection,
            &self.user,
            room,
            message,
            change,
            nonce,
        )
    }

    /// Joins a room: `joined`, then the backlog up to the point where live delivery starts.
    /// Live events queue meanwhile and are written after, so there is no gap and no duplicate.
    async fn join(&mut self, room: &str, after: Option<&str>, sink: &mut Sink) -> Result<(), ()> {
        let prepared = parse_room(room).and_then(|room| {
            let after = after
                .map(|a| {
                    a.parse::<MessageId>()
                        .map_err(|e| Error::invalid("bad_request", e.to_string()))
                })
                .transpose()?;
            if !self.joined.contains(&room)
                && self.joined.len() >= self.state.config.limits.rooms_per_connection
            {
                return Err(Error::invalid(
                    "too_many_rooms",
                    "this connection has joined too many rooms; leave one first",
                ));
            }
            Ok((room, after))
        });
        let (room, after) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => return send(sink, protocol::error(&err, None)).await,
        };
        if self.joined.contains(&room) {
            // A second backlog would repeat messages already queued live on this connection.
            let err = Error::invalid(
                "already_joined",
                "already joined; leave first to replay history",
            );
            return send(sink, protocol::error(&err, None)).await;
        }
        let joined = match self
            .state
            .chat
            .join(&self.connection, &self.user, room)
            .await
        {
            Ok(joined) => joined,
            Err(err) => return send(sink, protocol::error(&err, None)).await,
        };
        self.joined.insert(room);
        sink.feed(Message::text(protocol::joined(&joined)))
            .await
            .map_err(|_| ())?;
        let chat = self.state.chat.clone();
        let up_to = joined.delivered_up_to;
        let mut cursor = after.map(|id| id.0);
        if let Some(seen) = cursor {
            // First what changed of the messages the client has, then what is new.
            let mut from = seen;
            loop {
                let (changed, more) =
                    match chat.changed_since(room, seen, from, up_to, BACKLOG_PAGE) {
                        Ok(found) => found,
                        Err(err) => {
                            self.joined.remove(&room);
                            chat.leave(&self.connection, room);
                            return send(sink, protocol::error(&err, None)).await;
                        }
                    };
                for message in &changed {
                    sink.feed(Message::text(protocol::message(message)))
                        .await
                        .map_err(|_| ())?;
                }
                match more {
                    Some(last) => from = last,
                    None => break,
                }
            }
        }
        loop {
            let page = match cursor {
                None => chat.newest_up_to(room, up_to, JOIN_BACKLOG),
                Some(after) => chat.backlog_after(room, after, up_to, BACKLOG_PAGE),
            };
            let page = match page {
                Ok(page) => page,
                Err(err) => {
                    // A backlog with a hole would break the no-gap promise: leave instead.
                    self.joined.remove(&room);
                    chat.leave(&self.connection, room);
                    sink.feed(Message::text(protocol::error(&err, None)))
                        .await
                        .map_err(|_| ())?;
                    return sink.flush().await.map_err(|_| ());
                }
            };
            for message in &page {
                sink.feed(Message::text(protocol::message(message)))
                    .await
                    .map_err(|_| ())?;
            }
            match (cursor, page.last()) {
                (Some(_), Some(last)) => cursor = Some(last.id.0),
                _ => break,
            }
            sink.flush().await.map_err(|_| ())?;
        }
        sink.feed(Message::text(protocol::replay_done(room, up_to)))
            .await
            .map_err(|_| ())?;
        sink.flush().await.map_err(|_| ())
    }
}

fn parse_room(room: &str) -> Result<RoomId, Error> {
    room.parse::<RoomId>().map_err(|_| Error::NotFound("room"))
}
