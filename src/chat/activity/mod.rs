//! `room_activity` notices: every online member of a room hears of its new messages with their
//! own unread and mention counts, on every connection, joined to the room or not.
//!
//! The committer paces them (`Cooldowns`: at most one per room every `COOLDOWN`). A notice due
//! at once is built by the committer itself, after the authors' read markers moved (an author
//! is never told their own message is unread), and handed to each connection right after the
//! message that caused it, so the two share one write. A notice that has to wait for its
//! cooldown is sent by `run` when it falls due. Counts are read when the notice is built, so
//! the last state wins.

mod cooldown;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

pub(super) use self::cooldown::Cooldowns;
use super::connection::Connection;
use super::events::{Event, EventKind, SharedMessage};
use super::model::Message;
use super::Hub;
use crate::store::{Store, StoreResult};

/// The most messages taken in one round, so a huge backlog cannot hold the task.
const ROUND: usize = 1024;

/// Sends the notices that waited for their cooldown, as the committer hands them over; runs
/// until the committer drops its sender.
pub(super) async fn run(
    store: Store,
    hub: Arc<Hub>,
    mut queue: mpsc::UnboundedReceiver<Arc<Message>>,
) {
    while let Some(first) = queue.recv().await {
        let mut notices = Notices::default();
        let mut message = Some(first);
        let mut taken = 0;
        while let Some(next) = message {
            notices.add(&store, &hub, &next);
            taken += 1;
            // Many rooms may fall due at once (a burst everywhere that stopped): give the
            // worker back between rooms, so deliveries never wait behind all of them.
            tokio::task::yield_now().await;
            message = if taken < ROUND {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        notices.send().await;
    }
    tracing::debug!("room activity notices stopped");
}

/// One message's notices by their counts: members who have read as far (most of a busy room's
/// members) share one event, so it is encoded once and every frame holds the same bytes.
#[derive(Default)]
struct SameCounts {
    events: Vec<((u64, u64), Arc<Event>)>,
}

impl SameCounts {
    /// A handful of distinct counts per message is the rule, so a scan beats hashing; past
    /// `KEPT` distinct ones the rest are built per member.
    fn event(
        &mut self,
        unread: u64,
        mentions: u64,
        build: impl FnOnce() -> Arc<Event>,
    ) -> Arc<Event> {
        const KEPT: usize = 16;
        if let Some((_, event)) = self
            .events
            .iter()
            .find(|(counts, _)| *counts == (unread, mentions))
        {
            return event.clone();
        }
        let event = build();
        if self.events.len() < KEPT {
            self.events.push(((unread, mentions), event.clone()));
        }
        event
    }
}

/// Notices by connection, so each connection gets all of its at once.
#[derive(Default)]
pub(super) struct Notices {
    by_connection: HashMap<u64, (Arc<Connection>, Vec<Arc<Event>>)>,
}

impl Notices {
    /// The notices of `message`, to be handed out now.
    pub(super) fn of(store: &Store, hub: &Hub, message: &Arc<Message>) -> Self {
        let mut notices = Self::default();
        notices.add(store, hub, message);
        notices
    }

    /// Hands `connection` its notices, if it has any here.
    pub(super) fn hand_to(&mut self, connection: &Connection) {
        if let Some((_, events)) = self.by_connection.remove(&connection.id) {
            offer_all(connection, &events);
        }
    }

    /// Hands every connection not handed its notices yet (members not in the room) theirs.
    pub(super) fn hand_out_rest(self) {
        for (connection, events) in self.by_connection.into_values() {
            offer_all(&connection, &events);
        }
    }

    /// The notices of one message: one per online member, with their counts.
    fn add(&mut self, store: &Store, hub: &Hub, message: &Arc<Message>) {
        if let Err(err) = self.try_add(store, hub, message) {
            tracing::warn!(error = %err, room = %message.room, "could not send room activity");
        }
    }

    fn try_add(&mut self, store: &Store, hub: &Hub, message: &Arc<Message>) -> StoreResult<()> {
        let members = store.room_member_list(message.room)?;
        let online = hub.connections().open_of(members.names());
        if online.is_empty() {
            return Ok(());
        }
        let newest_mention = store.newest_mention(message.room)?;
        let shared = SharedMessage::new(message.clone());
        let newest = message.ordinal.unwrap_or(0);
        let mut by_counts = SameCounts::default();
        for (username, connections) in online {
            let marker = store.read_marker(message.room, username)?;
            let read_ordinal = marker.map_or(0, |m| m.ordinal);
            let read_seq = marker.map_or(0, |m| m.message);
            let mention_count = match newest_mention {
                Some(newest) if newest > read_seq => {
                    store.mention_count(message.room, username, marker.as_ref())?
                }
                _ => 0,
            };
            let unread_count = newest.saturating_sub(read_ordinal);
            let event = by_counts.event(unread_count, mention_count, || {
                Event::new(EventKind::RoomActivity {
                    room: message.room,
                    last_message: shared.clone(),
                    unread_count,
                    mention_count,
                })
            });
            for connection in connections {
                self.by_connection
                    .entry(connection.id)
                    .or_insert_with(|| (connection, Vec::new()))
                    .1
                    .push(event.clone());
            }
        }
        Ok(())
    }

    /// Hands every connection its notices, giving the worker back every `SLICE` connections.
    async fn send(self) {
        const SLICE: usize = 64;
        for (n, (connection, events)) in self.by_connection.into_values().enumerate() {
            offer_all(&connection, &events);
            if n % SLICE == SLICE - 1 {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Stops at the first event the connection cannot take: it is gone, or lagging and kicked.
fn offer_all(connection: &Connection, events: &[Arc<Event>]) {
    for event in events {
        if !connection.offer(event) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RoomId;

    #[test]
    fn members_with_the_same_counts_share_one_event_and_others_get_their_own() {
        let mut by_counts = SameCounts::default();
        let mut built = 0;
        let mut event = |unread, mentions| {
            by_counts.event(unread, mentions, || {
                built += 1;
                Event::new(EventKind::RoomDeleted {
                    room: RoomId::generate(built),
                })
            })
        };
        let first = event(3, 1);
        let same = event(3, 1);
        let other = event(3, 0);
        let first_again = event(3, 1);
        assert!(Arc::ptr_eq(&first, &same));
        assert!(Arc::ptr_eq(&first, &first_again));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(built, 2);
    }
}
