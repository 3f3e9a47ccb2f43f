//! The hub: which connections are joined to which room, and delivery of events to them.
//!
//! Each room has its own lock, held only for short, non-async work (a sled point read for a
//! retried nonce, a `try_send` per subscriber), so rooms never wait on each other. A subscriber whose queue is
//! full is cut off (`kick`) instead of slowing the room down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::connection::{lock, Connection, Connections};
use super::events::{Event, EventKind, Joined};
use super::model::{Message, Room, RoomInfo};
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{MessageRecord, Store};

/// The state of one room that lives in memory.
pub(super) struct Channel {
    /// `None` once the room was deleted or swept: the channel stays as a tombstone so that no
    /// late send can recreate it from a stale read.
    room: Option<Room>,
    pub(super) next_seq: u64,
    /// The ordinal the next new message gets (changes take none).
    pub(super) next_ordinal: u64,
    /// The highest sequence number handed to subscribers (or on disk at load time).
    delivered_up_to: u64,
    subscribers: HashMap<u64, Arc<Connection>>,
    /// Connections per user, for presence: online when the first joins, offline when the last leaves.
    online: HashMap<String, usize>,
    /// Messages with a nonce that are accepted but not yet durable, by (author, nonce): a retry
    /// arriving meanwhile is matched here, since the store does not hold the original yet.
    in_flight: HashMap<String, HashMap<String, Arc<Message>>>,
    /// Changed messages whose new state is accepted but not yet durable, by id: the next change
    /// to the same message builds on this state, not on the stored one.
    changing: HashMap<u64, MessageRecord>,
    /// When the last `room_updated` went out, and whether a coalesced one is scheduled.
    last_notice: Option<Instant>,
    notice_scheduled: bool,
}

/// Member-count changes reach subscribers at most this often: a room that a hundred people
/// join in a minute tells each subscriber about once a second, not a hundred times.
const MEMBER_COUNT_NOTICE_INTERVAL: Duration = Duration::from_secs(1);

impl Channel {
    fn empty(room: Option<Room>, last_seq: u64, last_ordinal: u64) -> Self {
        Self {
            room,
            next_seq: last_seq + 1,
            next_ordinal: last_ordinal + 1,
            delivered_up_to: last_seq,
            subscribers: HashMap::new(),
            online: HashMap::new(),
            in_flight: HashMap::new(),
            changing: HashMap::new(),
            last_notice: None,
            notice_scheduled: false,
        }
    }

    /// Tells every subscriber the room as cached now.
    fn send_room_updated(&mut self) {
        let Some(room) = &self.room else { return };
        let event = Event::new(EventKind::RoomUpdated { room: room.clone() });
        self.last_notice = Some(Instant::now());
        self.broadcast(&event, |_| false);
    }

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

    pub(super) fn track_in_flight(&mut self, nonce: String, message: Arc<Message>) {
        self.in_flight
            .entry(message.author.clone())
            .or_default()
            .insert(nonce, message);
    }

    pub(super) fn in_flight(&self, author: &str, nonce: &str) -> Option<Arc<Message>> {
        self.in_flight.get(author)?.get(nonce).cloned()
    }

    pub(super) fn track_change(&mut self, id: u64, record: MessageRecord) {
        self.changing.insert(id, record);
    }

    pub(super) fn changing(&self, id: u64) -> Option<&MessageRecord> {
        self.changing.get(&id)
    }

    /// A change of `message` is durable (or refused): later reads go to the store again, unless
    /// a newer change of the same message is still on its way.
    fn settle_change(&mut self, message: &Message) {
        let done = self
            .changing
            .get(&message.id.0)
            .is_some_and(|pending| pending.changed_seq.unwrap_or(0) <= message.seq);
        if done {
            self.changing.remove(&message.id.0);
        }
    }

    fn settle(&mut self, message: &Message, nonce: Option<&str>) {
        let Some(nonce) = nonce else { return };
        if let Some(by_author) = self.in_flight.get_mut(&message.author) {
            by_author.remove(nonce);
            if by_author.is_empty() {
                self.in_flight.remove(&message.author);
            }
        }
    }

    /// Offers `event` to every subscriber not skipped; those that cannot take it are dropped
    /// (and announced offline if it was their user's last connection here).
    fn broadcast(&mut self, event: &Arc<Event>, skip: impl Fn(&Connection) -> bool) {
        self.broadcast_then(event, skip, |_| {});
    }

    /// `broadcast`, calling `then` with each connection right after it took `event`: what is
    /// offered there lands in its queue before its writer can wake, so both go in one write.
    fn broadcast_then(
        &mut self,
        event: &Arc<Event>,
        skip: impl Fn(&Connection) -> bool,
        mut then: impl FnMut(&Connection),
    ) {
        let mut dropped = Vec::new();
        self.subscribers.retain(|_, conn| {
            let keep = skip(conn) || {
                let taken = conn.offer(event);
                if taken {
                    then(conn);
                }
                taken
            };
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
    connections: Connections,
}

impl Hub {
    /// The registry of open connections: limits, revocation, counts.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

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
                // Changes take numbers from the same sequence as messages.
                let last_seq = store.last_seq(room)?;
                let last_ordinal = match &last {
                    Some((_, message)) if message.ordinal.is_some() => message.ordinal,
                    Some((seq, _)) => store.ordinal_of(room, *seq)?,
                    None => None,
                };
                let loaded = Channel::empty(
                    Some(Room::from_record(
                        room,
                        &record,
                        last.as_ref().map(|(_, m)| m.sent_at_ms),
                    )),
                    last_seq,
                    last_ordinal.unwrap_or(0),
                );
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
    ///
    /// `may_join` decides under the room's lock whether the user may be subscribed: a membership
    /// removal takes the same lock to unsubscribe after deleting the membership, so a join racing
    /// a removal either fails or is undone, never left standing.
    pub fn join(
        &self,
        store: &Store,
        room: RoomId,
        conn: &Arc<Connection>,
        now_ms: u64,
        may_join: impl FnOnce(&Room) -> Result<()>,
    ) -> Result<Joined> {
        self.with_channel(store, room, |channel| {
            let live = channel.live_room(now_ms)?.clone();
            may_join(&live)?;
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
                room: RoomInfo {
                    room: live,
                    role: None,
                    members: None,
                    activity: None,
                },
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

    /// Ends every subscription of `username` to `room` (their membership ended) and tells each of
    /// their connections, subscribed or not, with `removed`.
    pub fn unsubscribe_user(&self, room: RoomId, username: &str) {
        if let Some(channel) = lock(&self.channels).get(&room).cloned() {
            let mut channel = lock(&channel);
            let theirs: Vec<u64> = channel
                .subscribers
                .values()
                .filter(|conn| conn.username == username)
                .map(|conn| conn.id)
                .collect();
            for id in theirs {
                channel.remove_subscriber(id);
            }
        }
        self.connections
            .notify_user(username, &Event::new(EventKind::Removed { room }));
    }

    /// Replaces the cached room (after a rename, a topic or a membership change) and tells its
    /// subscribers with `room_updated`: at once for a new name or topic; for a new member count
    /// at most once per `MEMBER_COUNT_NOTICE_INTERVAL`, the notice carrying the latest state.
    pub fn room_changed(&self, room: &Room) {
        let Some(channel) = lock(&self.channels).get(&room.id).cloned() else {
            return;
        };
        let mut guard = lock(&channel);
        let Some(cached) = &mut guard.room else {
            return;
        };
        let updated = Room {
            last_active_at_ms: cached.last_active_at_ms.max(room.last_active_at_ms),
            ..room.clone()
        };
        if *cached == updated {
            // Two membership changes racing both re-read the room after the second one: the
            // later refresh has nothing new to say.
            return;
        }
        let only_count_changed = cached.name == updated.name
            && cached.topic == updated.topic
            && cached.expires_at_ms == updated.expires_at_ms;
        *cached = updated;
        if !only_count_changed {
            guard.send_room_updated();
            return;
        }
        if guard.notice_scheduled {
            return;
        }
        let due = guard
            .last_notice
            .map(|at| at + MEMBER_COUNT_NOTICE_INTERVAL)
            .filter(|due| *due > Instant::now());
        let (Some(due), Ok(runtime)) = (due, tokio::runtime::Handle::try_current()) else {
            guard.send_room_updated();
            return;
        };
        guard.notice_scheduled = true;
        drop(guard);
        // A short-lived timer, not an owned task: it ends within the interval, and if the
        // runtime stops first the notice is moot (every connection is closing).
        let channel = Arc::downgrade(&channel);
        runtime.spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            if let Some(channel) = channel.upgrade() {
                let mut channel = lock(&channel);
                channel.notice_scheduled = false;
                channel.send_room_updated();
            }
        });
    }

    /// Sends `kind` to every open connection of `username`.
    pub fn notify_user(&self, username: &str, kind: EventKind) {
        self.connections.notify_user(username, &Event::new(kind));
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
    /// from one task, in commit order). The sender's connection (`origin`) gets its copy with the
    /// sender's `nonce`. `then` is called with every connection right after it took the
    /// message (see `Channel::broadcast_then`).
    pub(super) fn deliver(
        &self,
        message: &Arc<Message>,
        nonce: Option<&str>,
        origin: Option<&Arc<Connection>>,
        update: bool,
        mut then: impl FnMut(&Connection),
    ) {
        let Some(channel) = lock(&self.channels).get(&message.room).cloned() else {
            return;
        };
        let mut channel = lock(&channel);
        if update {
            channel.settle_change(message);
        } else {
            channel.settle(message, nonce);
            if let Some(room) = &mut channel.room {
                room.last_active_at_ms = room.last_active_at_ms.max(message.sent_at_ms);
            }
        }
        channel.delivered_up_to = channel.delivered_up_to.max(message.seq);
        let event = |nonce: Option<String>| {
            let message = message.clone();
            Event::new(if update {
                EventKind::MessageUpdated { message, nonce }
            } else {
                EventKind::Message { message, nonce }
            })
        };
        let shared = event(None);
        match (origin, nonce) {
            (Some(conn), Some(nonce)) => {
                let own = event(Some(nonce.to_string()));
                let origin_id = conn.id;
                channel.broadcast_then(&shared, |c| c.id == origin_id, &mut then);
                // Acknowledge on the sender's connection even if it left the room meanwhile.
                if conn.offer(&own) {
                    then(conn);
                } else {
                    channel.remove_subscriber(origin_id);
                }
            }
            _ => channel.broadcast_then(&shared, |_| false, then),
        }
    }

    /// Forgets an accepted message that could not be saved, so that a retry stores it afresh.
    pub(super) fn forget_in_flight(&self, message: &Message, nonce: Option<&str>, update: bool) {
        if let Some(channel) = lock(&self.channels).get(&message.room).cloned() {
            let mut channel = lock(&channel);
            if update {
                channel.settle_change(message);
            } else {
                channel.settle(message, nonce);
            }
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
    /// and the channel becomes a tombstone that refuses further sends. Returns the connections
    /// told, so members' other connections can be told without telling anyone twice.
    pub fn close_room(&self, room: RoomId) -> Vec<u64> {
        let channel = lock(&self.channels)
            .entry(room)
            .or_insert_with(|| Arc::new(Mutex::new(Channel::empty(None, 0, 0))))
            .clone();
        let mut channel = lock(&channel);
        let event = Event::new(EventKind::RoomDeleted { room });
        channel.broadcast(&event, |_| false);
        let told = channel.subscribers.keys().copied().collect();
        channel.subscribers.clear();
        channel.online.clear();
        channel.room = None;
        told
    }

    /// Open subscriptions across all rooms (for metrics and tests).
    pub fn subscription_count(&self) -> usize {
        let channels: Vec<_> = lock(&self.channels).values().cloned().collect();
        channels.iter().map(|c| lock(c).subscribers.len()).sum()
    }
}
