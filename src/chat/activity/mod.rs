//! `room_activity` notices: every online member of a room hears of its new messages with their
//! own unread and mention counts, on every connection, joined to the room or not.
//!
//! The committer hands each durable message over (after the authors' read markers moved, so an
//! author is never told their own message is unread). `cooldown` decides when a room is
//! announced: at most once per `COOLDOWN`, a busy room's notice beside the message that
//! caused it, so the connections that get the message write both at once. Counts are read when
//! the notice is sent, so the last state wins.

mod cooldown;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use self::cooldown::Cooldowns;
use super::connection::Connection;
use super::events::{Event, EventKind, SharedMessage};
use super::model::Message;
use super::Hub;
use crate::store::{Store, StoreResult};

/// The most messages of one commit taken in one round, so a huge batch cannot hold the task.
const ROUND: usize = 1024;

/// Runs until the committer drops its sender; what is still waiting for its cooldown then is
/// dropped with the connections it was meant for.
pub(super) async fn run(
    store: Store,
    hub: Arc<Hub>,
    mut queue: mpsc::UnboundedReceiver<Arc<Message>>,
) {
    let mut paced: Cooldowns<Arc<Message>> = Cooldowns::default();
    loop {
        let next_check = paced.next_check().map(Instant::from_std);
        let mut notices = Notices::default();
        tokio::select! {
            received = queue.recv() => {
                let Some(first) = received else { break };
                // One commit hands its messages over together: their notices go out together.
                let now = std::time::Instant::now();
                let mut message = Some(first);
                let mut taken = 0;
                while let Some(next) = message {
                    if let Some(now_due) = paced.arrived(next.room, next, now) {
                        notices.add(&store, &hub, &now_due);
                    }
                    taken += 1;
                    message = if taken < ROUND { queue.try_recv().ok() } else { None };
                }
            }
            () = sleep_until(next_check), if next_check.is_some() => {
                // Many rooms may fall due at once (a burst everywhere that stopped): one room at
                // a time, giving the worker back in between, so deliveries never wait behind all.
                for message in paced.due(std::time::Instant::now()) {
                    notices.add(&store, &hub, &message);
                    tokio::task::yield_now().await;
                }
            }
        }
        notices.send().await;
    }
    tracing::debug!("room activity notices stopped");
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
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

/// The notices of one round, by connection, so each connection gets all of its at once.
#[derive(Default)]
struct Notices {
    by_connection: HashMap<u64, (Arc<Connection>, Vec<Arc<Event>>)>,
}

impl Notices {
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
            for event in &events {
                connection.offer(event);
            }
            if n % SLICE == SLICE - 1 {
                tokio::task::yield_now().await;
            }
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
