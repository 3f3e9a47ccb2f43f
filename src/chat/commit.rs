//! Group commit: accepted messages are queued here in sequence order; the committer writes
//! everything that queued up while the previous batch was being saved in one transaction, flushes
//! once, and only then acknowledges and delivers. Durability costs one write transaction and one
//! fsync per batch, not per message.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::activity::{Cooldowns, Notices};
use super::connection::Connection;
use super::events::EventKind;
use super::hub::Hub;
use super::model::Message;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::metrics::{Metrics, Transport};
use crate::store::{EncodedMessage, ReadMarkerRecord, Store, StoreError};

/// Who is waiting for a message to become durable.
pub enum Reply {
    Http(oneshot::Sender<Result<Arc<Message>>>),
    Socket(Arc<Connection>),
}

/// An accepted message waiting for the next batch.
pub struct Pending {
    pub(super) message: Arc<Message>,
    /// The bytes to store for a new message; `None` for a retried nonce, whose original is
    /// acknowledged again but neither stored nor broadcast twice.
    pub(super) write: Option<EncodedMessage>,
    /// The sender's nonce, echoed in the acknowledgement.
    pub(super) nonce: Option<String>,
    pub(super) reply: Reply,
    /// A change to a stored message (delivered as `message_updated`), not a new message.
    pub(super) update: bool,
}

impl Pending {
    fn is_new(&self) -> bool {
        self.write.is_some()
    }
}

/// Who hears about committed messages besides their room's subscribers.
pub struct Listeners {
    /// Notified after each batch with new messages (the outgoing webhook dispatcher).
    pub committed: Arc<tokio::sync::Notify>,
    /// The new messages whose `room_activity` notices waited for their cooldown (see
    /// `activity`); the notices due at once are handed out here, with their messages.
    pub activity: mpsc::UnboundedSender<Arc<Message>>,
    /// The task behind `activity`, awaited at shutdown.
    pub notices: tokio::task::JoinHandle<()>,
    /// Each new message for whoever subscribed (Web Push), who may fall behind and lose some:
    /// they never hold up the committer.
    pub published: tokio::sync::broadcast::Sender<Arc<Message>>,
    /// Attachments of sends on their way, released once their batch is saved or refused.
    pub attachments_in_flight: Arc<super::attachments::InFlight>,
    /// Marked with every room a saved batch wrote to (the search index reads them again).
    pub changed_rooms: Arc<super::changed_rooms::ChangedRooms>,
}

/// What the committer's queue carries.
pub enum Queued {
    Message(Pending),
    /// Answered once every message queued before it has been written (or refused): a room
    /// deletion waits for it so that no late write lands after the room's data is gone.
    Barrier(oneshot::Sender<()>),
}

const MAX_BATCH: usize = 8192;

pub(super) async fn run(
    store: Store,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    listeners: Listeners,
    mut queue: mpsc::UnboundedReceiver<Queued>,
    shutdown: CancellationToken,
) {
    let Listeners {
        committed,
        activity,
        notices,
        published,
        attachments_in_flight,
        changed_rooms,
    } = listeners;
    let listeners = (&published, &*attachments_in_flight, &*changed_rooms);
    let mut batch = Vec::with_capacity(256);
    let mut paced = Cooldowns::default();
    loop {
        let next_check = paced.next_check().map(tokio::time::Instant::from_std);
        let received = tokio::select! {
            biased;
            received = queue.recv_many(&mut batch, MAX_BATCH) => received,
            () = shutdown.cancelled() => {
                // Refuse new sends, then commit everything already accepted.
                queue.close();
                while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
                    commit(&store, &hub, &metrics, &committed, listeners, &mut paced, &mut batch)
                        .await;
                }
                break;
            }
            () = sleep_until(next_check), if next_check.is_some() => {
                hand_over_due(&mut paced, &activity);
                continue;
            }
        };
        if received == 0 {
            break;
        }
        commit(
            &store, &hub, &metrics, &committed, listeners, &mut paced, &mut batch,
        )
        .await;
        // A busy committer may not come back to the timer for a while.
        hand_over_due(&mut paced, &activity);
    }
    // The notices task ends once its queue is closed and drained.
    drop(activity);
    let _ = notices.await;
    tracing::debug!("group committer stopped");
}

async fn commit(
    store: &Store,
    hub: &Hub,
    metrics: &Metrics,
    committed: &tokio::sync::Notify,
    (published, attachments_in_flight, changed_rooms): (
        &tokio::sync::broadcast::Sender<Arc<Message>>,
        &super::attachments::InFlight,
        &super::changed_rooms::ChangedRooms,
    ),
    paced: &mut Cooldowns<Arc<Message>>,
    queued: &mut Vec<Queued>,
) {
    let mut barriers = Vec::new();
    let mut batch = Vec::with_capacity(queued.len());
    for item in queued.drain(..) {
        match item {
            Queued::Message(pending) => batch.push(pending),
            Queued::Barrier(done) => barriers.push(done),
        }
    }
    let started = std::time::Instant::now();
    let (batch, saved) = save(store, batch).await;
    for pending in batch.iter().filter(|p| p.is_new()) {
        attachments_in_flight.release(&pending.message.attachments);
        if saved.is_ok() && pending.update && pending.message.deleted {
            // Removing files is disk work: off the async workers, done before the deletion is
            // acknowledged (deletions are rare; the batch waits, the workers do not).
            let (store, room, id) = (store.clone(), pending.message.room, pending.message.id.0);
            let removed =
                tokio::task::spawn_blocking(move || store.remove_message_attachments(room, id))
                    .await;
            if !matches!(removed, Ok(Ok(()))) {
                tracing::warn!("could not delete a deleted message's files; the sweep will");
            }
        }
    }
    let new_messages = batch.iter().filter(|p| p.is_new() && !p.update).count();
    if new_messages > 0 {
        metrics.commit_finished(new_messages, started.elapsed().as_secs_f64());
        if saved.is_ok() {
            committed.notify_one();
        }
    }
    if saved.is_ok() {
        let written = batch.iter().filter(|p| p.is_new());
        changed_rooms.messages_changed(written.map(|p| p.message.room));
    }
    if let Err(err) = &saved {
        tracing::error!(error = %err, messages = batch.len(), "saving failed; these sends are refused");
    }
    if saved.is_ok() {
        // Before the notices: an author's notice says their own message is read.
        for ((room, author), marker) in authors_markers(&batch) {
            if let Err(err) = store.advance_read_marker(room, &author, marker) {
                tracing::warn!(error = %err, "could not move an author's read marker");
            }
        }
    }
    let now = std::time::Instant::now();
    let mut fresh = Vec::with_capacity(new_messages);
    for pending in batch {
        // A retry may point at an original from an earlier batch whose save failed.
        let stored = saved.is_ok() && (pending.is_new() || is_stored(store, &pending.message));
        if !stored {
            refuse(hub, pending);
            continue;
        }
        let mut notices = None;
        if pending.is_new() && !pending.update {
            fresh.push(pending.message.clone());
            notices = paced
                .arrived(pending.message.room, pending.message.clone(), now)
                .map(|due| Notices::of(store, hub, &due));
        }
        acknowledge(hub, metrics, pending, notices.as_mut());
        if let Some(notices) = notices {
            notices.hand_out_rest();
        }
    }
    for done in barriers {
        let _ = done.send(());
    }
    if published.receiver_count() > 0 {
        for message in fresh {
            let _ = published.send(message);
        }
    }
}

/// Hands the messages whose notices waited out their cooldown to the notices task.
fn hand_over_due(
    paced: &mut Cooldowns<Arc<Message>>,
    activity: &mpsc::UnboundedSender<Arc<Message>>,
) {
    for message in paced.due(std::time::Instant::now()) {
        let _ = activity.send(message);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// What the batch's authors have read: their own newest new message in each room (a message
/// you sent is not unread to you). One marker write per author and room per batch.
fn authors_markers(batch: &[Pending]) -> HashMap<(RoomId, String), ReadMarkerRecord> {
    let mut markers = HashMap::new();
    for pending in batch.iter().filter(|p| p.is_new() && !p.update) {
        let message = &pending.message;
        if let Some(ordinal) = message.ordinal {
            markers.insert(
                (message.room, message.author.clone()),
                ReadMarkerRecord {
                    message: message.id.0,
                    ordinal,
                    mentions: None,
                },
            );
        }
    }
    markers
}

/// Delivers a durable message to its room (once), each connection's `notices` right behind
/// it, and acknowledges it to its sender.
fn acknowledge(hub: &Hub, metrics: &Metrics, pending: Pending, mut notices: Option<&mut Notices>) {
    let is_new = pending.is_new();
    let Pending {
        message,
        nonce,
        reply,
        update,
        ..
    } = pending;
    let origin = match &reply {
        Reply::Socket(connection) => Some(connection),
        Reply::Http(_) => None,
    };
    if is_new {
        if !update {
            metrics.message_stored();
        }
        hub.deliver(&message, nonce.as_deref(), origin, update, |connection| {
            if let Some(notices) = notices.as_mut() {
                notices.hand_to(connection);
            }
        });
    } else if let Some(connection) = origin {
        let again = if update {
            EventKind::MessageUpdated {
                message: message.clone(),
                nonce,
            }
        } else {
            EventKind::Message {
                message: message.clone(),
                nonce,
            }
        };
        hub.send_to(connection, again);
    }
    match reply {
        Reply::Http(reply) => {
            if !update {
                metrics.message_sent(Transport::Rest);
            }
            let _ = reply.send(Ok(message));
        }
        Reply::Socket(_) if update => {}
        Reply::Socket(_) => metrics.message_sent(Transport::WebSocket),
    }
}

/// Tells the sender that its accepted message could not be saved.
fn refuse(hub: &Hub, pending: Pending) {
    if pending.is_new() {
        hub.forget_in_flight(&pending.message, pending.nonce.as_deref(), pending.update);
    }
    let failure = Error::SaveFailed;
    match pending.reply {
        Reply::Http(reply) => {
            let _ = reply.send(Err(failure));
        }
        Reply::Socket(connection) => {
            let kind = EventKind::SendFailed {
                code: failure.code(),
                message: failure.to_string(),
                nonce: pending.nonce,
            };
            hub.send_to(&connection, kind);
        }
    }
}

fn is_stored(store: &Store, message: &Message) -> bool {
    matches!(store.message(message.room, message.id.0), Ok(Some(_)))
}

/// Writes the batch's new messages in one transaction and flushes. If the flush fails, the
/// written messages are taken back where the database still accepts writes. sled 0.34 refuses
/// every write after an I/O error until it is reopened, so a refused send is "in doubt"
/// (docs/protocol.md): it may reappear after the restart, and a retry with its nonce then finds
/// it instead of storing it twice, because message and nonce were written in one transaction.
async fn save(
    store: &Store,
    batch: Vec<Pending>,
) -> (Vec<Pending>, std::result::Result<(), StoreError>) {
    if !batch.iter().any(Pending::is_new) {
        return (batch, Ok(()));
    }
    let writer = store.clone();
    let written = tokio::task::spawn_blocking(move || {
        let writes: Vec<&EncodedMessage> = batch.iter().filter_map(|p| p.write.as_ref()).collect();
        let written = writer.append_messages(&writes);
        (batch, written)
    })
    .await;
    let batch = match written {
        Ok((batch, Ok(()))) => batch,
        Ok((batch, Err(err))) => return (batch, Err(err)),
        Err(err) => {
            // The write task panicked and took the batch with it: its senders see the queue's
            // reply channels close, which reads as a failed send.
            let err = StoreError::Corrupt(format!("the write task failed: {err}"));
            return (Vec::new(), Err(err));
        }
    };
    let flushed = store.flush().await;
    if flushed.is_err() {
        for pending in batch.iter().filter(|p| p.is_new()) {
            let message = &pending.message;
            let taken_back = store.remove_message(
                message.room,
                message.id.0,
                &message.author,
                pending.nonce.as_deref(),
            );
            if let Err(err) = taken_back {
                tracing::error!(error = %err, "could not take back an unsaved message");
            }
        }
    }
    (batch, flushed)
}
