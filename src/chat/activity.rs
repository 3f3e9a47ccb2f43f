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

use super::events::{Event, EventKind};
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

/// Runs until the committer drops its sender; what is still waiting for its cooldown then is
/// dropped with the connections it was meant for.
pub(super) async fn run(
    store: Store,
    hub: Arc<Hub>,
    mut queue: mpsc::UnboundedReceiver<Arc<Message>>,
) {
    let mut cooling: HashMap<RoomId, Cooling> = HashMap::new();
    // Every cooldown has the same length, so deadlines come due in the order they were set.
    let mut deadlines: VecDeque<(Instant, RoomId)> = VecDeque::new();
    loop {
        let next = deadlines.front().map(|(at, _)| *at);
        tokio::select! {
            received = queue.recv() => {
                let Some(message) = received else { break };
                let room = message.room;
                match cooling.get_mut(&room) {
                    Some(state) => state.pending = Some(message),
                    None => {
                        announce(&store, &hub, &message);
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
                        announce(&store, &hub, &message);
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
fn announce(store: &Store, hub: &Hub, message: &Arc<Message>) {
    if let Err(err) = try_announce(store, hub, message) {
        tracing::warn!(error = %err, room = %message.room, "could not send room activity");
    }
}

fn try_announce(store: &Store, hub: &Hub, message: &Arc<Message>) -> StoreResult<()> {
    let connections = hub.connections();
    let newest = message.ordinal.unwrap_or(0);
    for (username, _) in store.members(message.room)? {
        if !connections.is_online(&username) {
            continue;
        }
        let marker = store.read_marker(message.room, &username)?;
        let (read_seq, read_ordinal) = marker.map_or((0, 0), |m| (m.message, m.ordinal));
        let mention_count = if read_seq >= message.id.0 {
            0
        } else {
            store.mention_count(message.room, &username, read_seq)?
        };
        let event = Event::new(EventKind::RoomActivity {
            room: message.room,
            last_message: message.clone(),
            unread_count: newest.saturating_sub(read_ordinal),
            mention_count,
        });
        connections.notify_user(&username, &event);
    }
    Ok(())
}
