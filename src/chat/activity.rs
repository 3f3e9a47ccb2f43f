//! `room_activity` notices: every online member of a room hears of its new messages with their
//! own unread and mention counts, on every connection, joined to the room or not.
//!
//! The committer hands each durable message over (after the authors' read markers moved, so an
//! author is never told their own message is unread). A room's first message after a quiet
//! spell is announced at once. Later ones wait, and only the newest is announced, on a shared
//! tick every `COOLDOWN` at which at least `COOLDOWN` has passed since the room's previous
//! notice. Counts are read when the notice is sent, so the last state wins.
//!
//! The shared tick is what keeps this cheap: a member of ten busy rooms gets their ten notices
//! in one burst, so each of their connections wakes and writes once per tick instead of once
//! per room; notices are grouped by connection before they are handed over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::connection::Connection;
use super::events::{Event, EventKind, SharedMessage};
use super::model::Message;
use super::Hub;
use crate::ids::RoomId;
use crate::store::{Store, StoreResult};

/// At most one notice per room (and so per connection and room) this often.
pub const COOLDOWN: Duration = Duration::from_millis(250);

/// A room announced less than `COOLDOWN` ago (or still waiting for its next notice).
struct Recent {
    announced_at: Instant,
    /// Its newest message since that notice, if any.
    pending: Option<Arc<Message>>,
}

/// Runs until the committer drops its sender; what is still waiting for its tick then is
/// dropped with the connections it was meant for.
pub(super) async fn run(
    store: Store,
    hub: Arc<Hub>,
    mut queue: mpsc::UnboundedReceiver<Arc<Message>>,
) {
    let mut recent: HashMap<RoomId, Recent> = HashMap::new();
    let mut tick = tokio::time::interval(COOLDOWN);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = queue.recv() => {
                let Some(message) = received else { break };
                match recent.get_mut(&message.room) {
                    Some(room) => room.pending = Some(message),
                    None => {
                        let mut notices = Notices::default();
                        notices.add(&store, &hub, &message);
                        notices.send().await;
                        recent.insert(message.room, Recent {
                            announced_at: Instant::now(),
                            pending: None,
                        });
                    }
                }
            }
            now = tick.tick(), if !recent.is_empty() => {
                let mut due = Vec::new();
                recent.retain(|_, room| {
                    if now.saturating_duration_since(room.announced_at) < COOLDOWN {
                        return true;
                    }
                    match room.pending.take() {
                        Some(message) => {
                            due.push(message);
                            room.announced_at = now;
                            true
                        }
                        // Quiet for a whole cooldown: the next message is announced at once.
                        None => false,
                    }
                });
                // A tick may cover every busy room of the server: the work is cut into one
                // room at a time, and the hand-over into slices, with the worker given back
                // in between, so messages being delivered never wait behind a whole tick.
                let mut notices = Notices::default();
                for message in &due {
                    notices.add(&store, &hub, message);
                    tokio::task::yield_now().await;
                }
                notices.send().await;
            }
        }
    }
    tracing::debug!("room activity notices stopped");
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
            let event = Event::new(EventKind::RoomActivity {
                room: message.room,
                last_message: shared.clone(),
                unread_count: newest.saturating_sub(read_ordinal),
                mention_count,
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
