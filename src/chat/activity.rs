//! `room_activity` notices: every online member of a room hears of its new messages with their
//! own unread and mention counts, on every connection, joined to the room or not.
//!
//! The committer hands each durable message over (after the authors' read markers moved, so an
//! author is never told their own message is unread). A room's first message after a quiet
//! spell is announced at once; later ones wait until 250 ms have passed since the previous
//! notice, and only the newest of them is announced. Counts are read when the notice is sent,
//! so the last state wins.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::events::{Event, EventKind, SharedMessage};
use super::model::Message;
use super::Hub;
use crate::ids::RoomId;
use crate::store::{Store, StoreResult};

/// At most one notice per room (and so per connection and room) this often.
pub const COOLDOWN: Duration = Duration::from_millis(250);

/// A room announced less than `COOLDOWN` ago, and its newest message since, if any.
#[derive(Default)]
struct Cooling {
    pending: Option<Arc<Message>>,
}

/// Rooms whose newest mention the task remembers before it forgets them all (a bound on memory;
/// forgetting costs one pass over a room's mentions when it is next announced).
const MENTION_MEMORY: usize = 100_000;

/// What the task knows of each room's mentions, so that a member whose marker is past a room's
/// newest mention is told 0 without a look at the mention index (most notices, most members).
#[derive(Default)]
struct LatestMentions {
    by_room: HashMap<RoomId, Option<u64>>,
}

impl LatestMentions {
    /// A new message: it may be the room's newest mention. Rooms not yet looked up stay so.
    fn saw(&mut self, message: &Message) {
        if message.mentions.is_empty() {
            return;
        }
        if let Some(latest) = self.by_room.get_mut(&message.room) {
            *latest = (*latest).max(Some(message.id.0));
        }
    }

    fn latest(&mut self, store: &Store, room: RoomId) -> StoreResult<Option<u64>> {
        if let Some(latest) = self.by_room.get(&room) {
            return Ok(*latest);
        }
        if self.by_room.len() >= MENTION_MEMORY {
            self.by_room.clear();
        }
        let latest = store.latest_mention(room)?;
        self.by_room.insert(room, latest);
        Ok(latest)
    }
}

/// Runs until the committer drops its sender; what is still waiting for its cooldown then is
/// dropped with the connections it was meant for.
pub(super) async fn run(
    store: Store,
    hub: Arc<Hub>,
    mut queue: mpsc::UnboundedReceiver<Arc<Message>>,
) {
    let mut cooling: HashMap<RoomId, Cooling> = HashMap::new();
    let mut mentions = LatestMentions::default();
    // Every cooldown has the same length, so deadlines come due in the order they were set.
    let mut deadlines: VecDeque<(Instant, RoomId)> = VecDeque::new();
    loop {
        let next = deadlines.front().map(|(at, _)| *at);
        tokio::select! {
            received = queue.recv() => {
                let Some(message) = received else { break };
                mentions.saw(&message);
                let room = message.room;
                match cooling.get_mut(&room) {
                    Some(state) => state.pending = Some(message),
                    None => {
                        announce(&store, &hub, &mut mentions, &message);
                        cooling.insert(room, Cooling::default());
                        deadlines.push_back((Instant::now() + COOLDOWN, room));
                    }
                }
            }
            () = sleep_until(next), if next.is_some() => {
                let Some((_, room)) = deadlines.pop_front() else { continue };
                let waiting = cooling.get_mut(&room).and_then(|state| state.pending.take());
                match waiting {
                    Some(message) => {
                        announce(&store, &hub, &mut mentions, &message);
                        deadlines.push_back((Instant::now() + COOLDOWN, room));
                    }
                    None => {
                        cooling.remove(&room);
                    }
                }
            }
        }
    }
    tracing::debug!("room activity notices stopped");
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Tells every online member of the message's room about it, with their counts.
fn announce(store: &Store, hub: &Hub, mentions: &mut LatestMentions, message: &Arc<Message>) {
    if let Err(err) = try_announce(store, hub, mentions, message) {
        tracing::warn!(error = %err, room = %message.room, "could not send room activity");
    }
}

fn try_announce(
    store: &Store,
    hub: &Hub,
    mentions: &mut LatestMentions,
    message: &Arc<Message>,
) -> StoreResult<()> {
    let members = store.members(message.room)?;
    let online = hub
        .connections()
        .open_of(members.iter().map(|(username, _)| username.as_str()));
    if online.is_empty() {
        return Ok(());
    }
    let latest_mention = mentions.latest(store, message.room)?;
    let shared = SharedMessage::new(message.clone());
    let newest = message.ordinal.unwrap_or(0);
    for (username, connections) in online {
        let marker = store.read_marker(message.room, username)?;
        let (read_seq, read_ordinal) = marker.map_or((0, 0), |m| (m.message, m.ordinal));
        let mention_count = match latest_mention {
            Some(latest) if latest > read_seq => {
                store.mention_count(message.room, username, read_seq)?
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
            connection.offer(&event);
        }
    }
    Ok(())
}
