//! Group commit: messages are written to sled as they arrive, but acknowledged (and shown to
//! anyone) only after a flush that covers them. One flush covers every message that arrived
//! while the previous one ran, so durability costs one fsync per batch, not per message.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::connection::Connection;
use super::events::EventKind;
use super::hub::Hub;
use super::model::Message;
use crate::error::{Error, Result};
use crate::metrics::{Metrics, Transport};
use crate::store::Store;

/// Who is waiting for a message to become durable.
pub enum Reply {
    Http(oneshot::Sender<Result<Arc<Message>>>),
    Socket {
        connection: Arc<Connection>,
        nonce: Option<String>,
    },
}

/// A stored message waiting for the next flush.
pub struct Pending {
    pub(super) message: Arc<Message>,
    /// False for a retried nonce: acknowledge the original again, but do not broadcast it.
    pub(super) fresh: bool,
    /// The sender's nonce, so a message whose flush failed can be taken back entirely.
    pub(super) nonce: Option<String>,
    pub(super) reply: Reply,
}

const MAX_BATCH: usize = 8192;

pub(super) async fn run(
    store: Store,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(256);
    loop {
        let received = tokio::select! {
            biased;
            received = queue.recv_many(&mut batch, MAX_BATCH) => received,
            () = shutdown.cancelled() => {
                // Refuse new sends, then commit everything already accepted.
                queue.close();
                while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
                    commit(&store, &hub, &metrics, &mut batch).await;
                }
                break;
            }
        };
        if received == 0 {
            break;
        }
        commit(&store, &hub, &metrics, &mut batch).await;
    }
    tracing::debug!("group committer stopped");
}

async fn commit(store: &Store, hub: &Hub, metrics: &Metrics, batch: &mut Vec<Pending>) {
    let flushed = store.flush().await;
    if let Err(err) = &flushed {
        tracing::error!(error = %err, messages = batch.len(), "flush failed; these sends are refused");
        for pending in batch.iter().filter(|p| p.fresh) {
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
    for pending in batch.drain(..) {
        if flushed.is_ok() && pending.fresh {
            metrics.message_stored();
        }
        match (&flushed, pending.reply) {
            (Ok(()), Reply::Http(reply)) => {
                metrics.message_sent(Transport::Rest);
                if pending.fresh {
                    hub.deliver(&pending.message, None);
                }
                let _ = reply.send(Ok(pending.message));
            }
            (Ok(()), Reply::Socket { connection, nonce }) => {
                metrics.message_sent(Transport::WebSocket);
                if pending.fresh {
                    hub.deliver(&pending.message, Some((&connection, &nonce)));
                } else {
                    hub.send_to(
                        &connection,
                        EventKind::Message {
                            message: pending.message,
                            nonce,
                        },
                    );
                }
            }
            (Err(_), Reply::Http(reply)) => {
                let _ = reply.send(Err(Error::SaveFailed));
            }
            (Err(_), Reply::Socket { connection, nonce }) => {
                let failure = Error::SaveFailed;
                let kind = EventKind::SendFailed {
                    code: failure.code(),
                    message: failure.to_string(),
                    nonce,
                };
                hub.send_to(&connection, kind);
            }
        }
    }
}
