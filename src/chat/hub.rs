//! The hub: which connections are joined to which room, and delivery of events to them.
//!
//! Each room has its own lock, held only for short, non-async work (a sled point write, a
//! `try_send` per subscriber), so rooms never wait on each other. A subscriber whose queue is
//! full is cut off (`kick`) instead of slowing the room down.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::events::{Event, EventKind, Joined};
use super::model::{Message, Room};
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::metrics::Metrics;
use crate::store::Store;

/// Why the server cuts a connection off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// It fell too far behind its rooms (closed with 4008 "lagged").
    Lagged,
    /// Its user was locked or deleted, or their sessions were revoked.
    Revoked,
}

/// One live WebSocket connection as the hub sees it.
#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    pub username: String,
    /// The hash of the session token it was opened with, so a logout can close it.
    pub session: [u8; 32],
    tx: mpsc::Sender<Arc<Event>>,
    /// Cancelled when the server cuts the connection off; `kick_reason` says why.
    pub kicked: CancellationToken,
    kick_reason: OnceLock<Kick>,
    /// Every frame offered to this connection passes here, so this is where deliveries and
    /// lag are counted.
    metrics: Arc<Metrics>,
}

impl Connection {
    pub fn new(
        id: u64,
        username: String,
        session: [u8; 32],
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> (Arc<Self>, mpsc::Receiver<Arc<Event>>) {
        let (tx, rx) = mpsc::channel(queue);
        let connection = Self {
            id,
            username,
            session,
            tx,
            kicked: CancellationToken::new(),
            kick_reason: OnceLock::new(),
            metrics,
        };
        (Arc::new(connection), rx)
    }

    /// Cuts the connection off; the first reason given is the one reported (and counted).
    pub fn kick(&self, reason: Kick) {
        if self.kick_reason.set(reason).is_ok() && reason == Kick::Lagged {
            self.metrics.lagged_disconnect();
        }
        self.kicked.cancel();
    }

    pub fn kick_reason(&self) -> Option<Kick> {
        self.kick_reason.get().copied()
    }

    /// Queues `event`; false when the connection is gone or lagging (and now kicked).
    fn offer(&self, event: &Arc<Event>) -> bool {
        match self.tx.try_send(event.clone()) {
            Ok(()) => {
                self.metrics.delivered();
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kick(Kick::Lagged);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// The state of one room that lives in memory.
pub(super) struct Channel {
    /// `None` once the room was deleted or swept: the channel stays as a tombstone so that no
    /// late send can recreate it from a stale read.
    room: Option<Room>,
    pub(super) next_seq: u64,
    /// The highest sequence number handed to subscribers (or on disk at load time).
    delivered_up_to: u64,
    subscribers: HashMap<u64, Arc<Connection>>,
    /// Connections per user, for presence: online when the first joins, offline when the last leaves.
    online: HashMap<String, usize>,
}

impl Channel {
    /// The live room, or `NotFound` if it never existed, was deleted or has expired.
    pub(super) fn live_room(&self, now_ms: u64) -> Result<&Room> {
        match &self.room {
            Some(room) if room.is_live(now_ms) => Ok(room),
            _ => Err(Error::NotFound("room")),
        }
    }

    pub(super) fn is_subscribed(&self, connection_id: u64) -> bool {
        self.subscribers.contains_key(&connection_id)
    }

    /// Offers `event` to every subscriber not skipped; those that cannot take it are dropped
    /// (and announced offline if it was their user's last connection here).
    fn broadcast(&mut self, event: &Arc<Event>, skip: impl Fn(&Connection) -> bool) {
        let mut dropped = Vec::new();
        self.subscribers.retain(|_, conn| {
            let keep = skip(conn) || conn.offer(event);
            if !keep {
                dropped.push(conn.clone());
            }
            keep
        });
        for conn in dropped {
            self.user_connection_gone(&conn);
        }
    }

    fn remove_subscriber(&mut self, connection_id: u64) -> bool {
        match self.subscribers.remove(&connection_id) {
            Some(conn) => {
                self.user_connection_gone(&conn);
                true
            }
            None => false,
        }
    }

    /// Presence bookkeeping: the user goes offline here when their last connection leaves.
    fn user_connection_gone(&mut self, conn: &Connection) {
        let Some(count) = self.online.get_mut(&conn.username) else {
            return;
        };
        *count -= 1;
        if *count > 0 {
            return;
        }
        self.online.remove(&conn.username);
        if let Some(room) = &self.room {
            let user = conn.username.clone();
            let event = Event::new(EventKind::Presence {
                room: room.id,
                user,
                online: false,
            });
            self.broadcast(&event, |_| false);
        }
    }
}

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<RoomId, Arc<Mutex<Channel>>>>,
    /// Every open connection and how many each user and client address holds. Shared with the
    /// `ConnectionSlot`s, which give their place back when dropped.
    registry: Arc<Mutex<Registry>>,
}

/// Every open connection, joined to rooms or not, so a user can be cut off everywhere; and the
/// number of connections (upgraded or about to be) per user and per client address.
#[derive(Default)]
struct Registry {
    connections: HashMap<u64, Arc<Connection>>,
    per_user: HashMap<String, usize>,
    per_ip: HashMap<IpAddr, usize>,
}

/// The most WebSocket connections one user, and one client address, may hold at once.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub per_user: usize,
    pub per_ip: usize,
}

/// Why `Hub::reserve` refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitReached {
    #[error("this account already has {0} open connections; close one first")]
    PerUser(usize),
    #[error("this address already has {0} open connections; close one first")]
    PerIp(usize),
}

/// A place for one WebSocket connection, taken before the upgrade and given back when dropped.
///
/// Counting by a guard rather than by paired calls means the counts fall however a session
/// ends: closed by either side, kicked, failed upgrade (poem drops the upgrade callback that
/// owns the slot), or a panicking session task (unwinding drops it).
pub struct ConnectionSlot {
    registry: Arc<Mutex<Registry>>,
    username: String,
    ip: Option<IpAddr>,
    connection: Option<u64>,
}

impl ConnectionSlot {
    /// Lists the upgraded connection where `disconnect_user` and `connection_count` see it,
    /// until the slot is dropped.
    pub fn register(&mut self, connection: &Arc<Connection>) {
        lock(&self.registry)
            .connections
            .insert(connection.id, connection.clone());
        self.connection = Some(connection.id);
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut registry = lock(&self.registry);
        if let Some(id) = self.connection.take() {
            registry.connections.remove(&id);
        }
        release(&mut registry.per_user, &self.username);
        if let Some(ip) = self.ip {
            release(&mut registry.per_ip, &ip);
        }
    }
}

/// Takes one off `key`'s count, forgetting keys that reach zero so the maps stay small.
fn release<K: Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical section
/// here leaves the state consistent between statements, so the data is still good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// Locks the channel of `room`, loading its record and last sequence number on first use.
    /// Unknown rooms get no channel, so requests for random ids cannot grow the map.
    pub(super) fn with_channel<T>(
        &self,
        store: &Store,
        room: RoomId,
        f: impl FnOnce(&mut Channel) -> Result<T>,
    ) -> Result<T> {
        let existing = lock(&self.channels).get(&room).cloned();
        let channel = match existing {
            Some(channel) => channel,
            None => {
                let record = store.room(room)?.ok_or(Error::NotFound("room"))?;
                let last = store.last_message(room)?;
                let last_seq = last.as_ref().map_or(0, |(seq, _)| *seq);
                let loaded = Channel {
                    room: Some(Room::from_record(
                        room,
                        &record,
                        last.map(|(_, m)| m.sent_at_ms),
                    )),
                    next_seq: last_seq + 1,
                    delivered_up_to: last_seq,
                    subscribers: HashMap::new(),
                    online: HashMap::new(),
                };
                // A concurrent loader or a tombstone may have won the race: keep theirs.
                lock(&self.channels)
                    .entry(room)
                    .or_insert_with(|| Arc::new(Mutex::new(loaded)))
                    .clone()
            }
        };
        let mut guard = lock(&channel);
        f(&mut guard)
    }

    /// Subscribes `conn` to `room` and announces the user if this is their first connection there.
    pub fn join(
        &self,
        store: &Store,
        room: RoomId,
        conn: &Arc<Connection>,
        now_ms: u64,
    ) -> Result<Joined> {
        self.with_channel(store, room, |channel| {
            let live = channel.live_room(now_ms)?.clone();
            if channel.subscribers.insert(conn.id, conn.clone()).is_none() {
                let count = channel.online.entry(conn.username.clone()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    let event = Event::new(EventKind::Presence {
                        room,
                        user: conn.username.clone(),
                        online: true,
                    });
                    channel.broadcast(&event, |c| c.id == conn.id);
                }
            }
            let mut online: Vec<String> = channel.online.keys().cloned().collect();
            online.sort();
            Ok(Joined {
                room: live,
                online,
                delivered_up_to: channel.delivered_up_to,
            })
        })
    }

    /// Unsubscribes a connection; returns whether it was joined.
    pub fn leave(&self, room: RoomId, conn: &Connection) -> bool {
        let Some(channel) = lock(&self.channels).get(&room).cloned() else {
            return false;
        };
        let removed = lock(&channel).remove_subscriber(conn.id);
        removed
    }

    /// Tells the room's other users that `conn`'s user is typing.
    pub fn typing(
        &self,
        store: &Store,
        room: RoomId,
        conn: &Connection,
        now_ms: u64,
    ) -> Result<()> {
        self.with_channel(store, room, |channel| {
            channel.live_room(now_ms)?;
            if !channel.is_subscribed(conn.id) {
                return Err(Error::NotJoined);
            }
            let event = Event::new(EventKind::Typing {
                room,
                user: conn.username.clone(),
            });
            channel.broadcast(&event, |c| c.username == conn.username);
            Ok(())
        })
    }

    /// Hands a durable message to every subscriber, in sequence order (the committer calls this
    /// from one task, in commit order). The sender's connection gets its copy with the nonce.
    pub(super) fn deliver(
        &self,
        message: &Arc<Message>,
        origin: Option<(&Arc<Connection>, &Option<String>)>,
    ) {
        let Some(channel) = lock(&self.channels).get(&message.room).cloned() else {
            return;
        };
        let mut channel = lock(&channel);
        channel.delivered_up_to = channel.delivered_up_to.max(message.id.0);
        if let Some(room) = &mut channel.room {
            room.last_active_at_ms = room.last_active_at_ms.max(message.sent_at_ms);
        }
        let shared = Event::new(EventKind::Message {
            message: message.clone(),
            nonce: None,
        });
        match origin {
            Some((conn, nonce)) if nonce.is_some() => {
                let own = Event::new(EventKind::Message {
                    message: message.clone(),
                    nonce: nonce.clone(),
                });
                let origin_id = conn.id;
                channel.broadcast(&shared, |c| c.id == origin_id);
                // Acknowledge on the sender's connection even if it left the room meanwhile.
                if !conn.offer(&own) {
                    channel.remove_subscriber(origin_id);
                }
            }
            _ => channel.broadcast(&shared, |_| false),
        }
    }

    /// Sends an event to one connection only (acknowledging a retried send, reporting a failure).
    pub(super) fn send_to(&self, conn: &Connection, kind: EventKind) {
        conn.offer(&Event::new(kind));
    }

    /// The last message id handed out live in `room`, if the room is loaded: reads must not show
    /// messages that are stored but not yet durable.
    pub fn delivered_up_to(&self, room: RoomId) -> Option<u64> {
        let channel = lock(&self.channels).get(&room).cloned()?;
        let channel = lock(&channel);
        Some(channel.delivered_up_to)
    }

    /// The live activity time of a loaded room, fresher than the store for messages in flight.
    pub fn last_active_at(&self, room: RoomId) -> Option<u64> {
        let channel = lock(&self.channels).get(&room).cloned()?;
        let channel = lock(&channel);
        channel.room.as_ref().map(|room| room.last_active_at_ms)
    }

    /// Closes a deleted or expired room before its data is deleted: every subscriber is told,
    /// and the channel becomes a tombstone that refuses further sends.
    pub fn close_room(&self, room: RoomId) {
        let channel = lock(&self.channels)
            .entry(room)
            .or_insert_with(|| {
                Arc::new(Mutex::new(Channel {
                    room: None,
                    next_seq: 1,
                    delivered_up_to: 0,
                    subscribers: HashMap::new(),
                    online: HashMap::new(),
                }))
            })
            .clone();
        let mut channel = lock(&channel);
        let event = Event::new(EventKind::RoomDeleted { room });
        channel.broadcast(&event, |_| false);
        channel.subscribers.clear();
        channel.online.clear();
        channel.room = None;
    }

    /// Takes a place for one more connection of `username` from `ip`, or says which limit
    /// is reached.
    ///
    /// The check and the count happen under one lock, so concurrent upgrades cannot
    /// over-admit. The place is held from before the upgrade, so a connection still in its
    /// handshake counts too.
    pub fn reserve(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        limits: ConnectionLimits,
    ) -> std::result::Result<ConnectionSlot, LimitReached> {
        let ip = ip.map(|ip| ip.to_canonical());
        let mut registry = lock(&self.registry);
        let of_user = registry.per_user.get(username).copied().unwrap_or(0);
        if of_user >= limits.per_user {
            return Err(LimitReached::PerUser(limits.per_user));
        }
        let of_ip = ip.and_then(|ip| registry.per_ip.get(&ip).copied());
        if of_ip.unwrap_or(0) >= limits.per_ip {
            return Err(LimitReached::PerIp(limits.per_ip));
        }
        *registry.per_user.entry(username.to_string()).or_insert(0) += 1;
        if let Some(ip) = ip {
            *registry.per_ip.entry(ip).or_insert(0) += 1;
        }
        Ok(ConnectionSlot {
            registry: self.registry.clone(),
            username: username.to_string(),
            ip,
            connection: None,
        })
    }

    /// Closes every open connection of `username`; returns how many.
    /// Closes every open connection opened with the session `session` (a token hash).
    pub fn disconnect_session(&self, session: &[u8; 32]) -> usize {
        let registry = lock(&self.registry);
        let opened_with: Vec<_> = registry
            .connections
            .values()
            .filter(|c| &c.session == session)
            .collect();
        for connection in &opened_with {
            connection.kick(Kick::Revoked);
        }
        opened_with.len()
    }

    pub fn disconnect_user(&self, username: &str) -> usize {
        let registry = lock(&self.registry);
        let mine: Vec<_> = registry
            .connections
            .values()
            .filter(|c| c.username == username)
            .collect();
        for connection in &mine {
            connection.kick(Kick::Revoked);
        }
        mine.len()
    }

    /// Upgraded connections open now (for metrics and tests).
    pub fn connection_count(&self) -> usize {
        lock(&self.registry).connections.len()
    }

    /// Open subscriptions across all rooms (for metrics and tests).
    pub fn subscription_count(&self) -> usize {
        let channels: Vec<_> = lock(&self.channels).values().cloned().collect();
        channels.iter().map(|c| lock(c).subscribers.len()).sum()
    }
}
