//! Webhooks of rooms, and the durable queue of outgoing deliveries.
//!
//! An outgoing webhook's `cursor` is the transactional outbox: the dispatcher turns the room's
//! messages after the cursor into deliveries and advances the cursor in one transaction. The
//! messages themselves are durable before they are acknowledged, so whatever a crash takes
//! (queued deliveries not yet flushed, results not yet written) is found again from the
//! messages after the cursor, or retried: nothing is lost, at the price of a possible repeat
//! (at-least-once, de-duplicated by the receiver with `X-Confab-Delivery`).

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::records::{decode, encode};
use super::{
    keys, DeliveryRecord, Store, StoreError, StoreResult, TokenHash, WebhookKind, WebhookRecord,
};
use crate::ids::RoomId;

/// A webhook's or a delivery's id: a ULID's 16 bytes.
pub type WebhookId = [u8; keys::WEBHOOK_ID_LEN];

/// A delivery whose time has come, as found in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueDelivery {
    pub due_at_ms: u64,
    pub id: WebhookId,
    pub room: RoomId,
    pub webhook: WebhookId,
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl Store {
    /// Stores a new webhook (an incoming one with the hash of its secret).
    pub fn insert_webhook(
        &self,
        room: RoomId,
        id: WebhookId,
        record: &WebhookRecord,
        incoming_secret: Option<&TokenHash>,
    ) -> StoreResult<()> {
        let key = keys::webhook(room, id);
        if let Some(hash) = incoming_secret {
            self.incoming_hooks.insert(hash, &key[..])?;
        }
        self.webhooks.insert(key, encode(record))?;
        Ok(())
    }

    pub fn webhook(&self, room: RoomId, id: WebhookId) -> StoreResult<Option<WebhookRecord>> {
        self.webhooks
            .get(keys::webhook(room, id))?
            .map(|bytes| decode(&bytes, "webhook"))
            .transpose()
    }

    /// A room's webhooks, oldest first.
    pub fn webhooks_of(&self, room: RoomId) -> StoreResult<Vec<WebhookRecord>> {
        self.webhooks
            .scan_prefix(keys::room(room))
            .values()
            .map(|value| decode(&value?, "webhook"))
            .collect()
    }

    /// Every outgoing webhook of every room (the dispatcher's work list).
    pub fn outgoing_webhooks(&self) -> StoreResult<Vec<(RoomId, WebhookRecord)>> {
        let mut found = Vec::new();
        for entry in self.webhooks.iter() {
            let (key, value) = entry?;
            let record: WebhookRecord = decode(&value, "webhook")?;
            if matches!(record.kind, WebhookKind::Outgoing { .. }) {
                found.push((keys::parse_webhook(&key)?.0, record));
            }
        }
        Ok(found)
    }

    /// The incoming webhook whose secret hashes to `hash`.
    pub fn incoming_webhook(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<(RoomId, WebhookRecord)>> {
        let Some(key) = self.incoming_hooks.get(hash)? else {
            return Ok(None);
        };
        let (room, id) = keys::parse_webhook(&key)?;
        Ok(self.webhook(room, id)?.map(|record| (room, record)))
    }

    /// Rewrites a webhook's record (its last use) only if it is unchanged since `current` was
    /// read: a deletion or the dispatcher's cursor must win.
    pub fn touch_webhook(
        &self,
        room: RoomId,
        id: WebhookId,
        current: &WebhookRecord,
        updated: &WebhookRecord,
    ) -> StoreResult<()> {
        let _ = self.webhooks.compare_and_swap(
            keys::webhook(room, id),
            Some(encode(current)),
            Some(encode(updated)),
        )?;
        Ok(())
    }

    /// Deletes a webhook with its secret's index entry and its delivery log. Queue entries of
    /// its deliveries are dropped when they come due.
    pub fn delete_webhook(
        &self,
        room: RoomId,
        id: WebhookId,
    ) -> StoreResult<Option<WebhookRecord>> {
        let key = keys::webhook(room, id);
        let Some(bytes) = self.webhooks.remove(key)? else {
            return Ok(None);
        };
        let record: WebhookRecord = decode(&bytes, "webhook")?;
        if record.kind == WebhookKind::Incoming {
            for entry in self.incoming_hooks.iter() {
                let (hash, value) = entry?;
                if value.as_ref() == key.as_slice() {
                    self.incoming_hooks.remove(hash)?;
                }
            }
        }
        for delivery in self.deliveries.scan_prefix(id).keys() {
            self.deliveries.remove(delivery?)?;
        }
        Ok(Some(record))
    }

    /// Queues `deliveries` for an outgoing webhook and moves its cursor from `expected_cursor`
    /// to `new_cursor`, atomically. False (and nothing written) when the webhook is gone or
    /// its cursor moved meanwhile.
    pub fn queue_deliveries(
        &self,
        room: RoomId,
        webhook: WebhookId,
        expected_cursor: u64,
        new_cursor: u64,
        deliveries: &[(WebhookId, DeliveryRecord)],
    ) -> StoreResult<bool> {
        let hook_key = keys::webhook(room, webhook);
        let queued = keys::webhook(room, webhook);
        let encoded: Vec<_> = deliveries
            .iter()
            .map(|(id, record)| {
                let due = keys::delivery_due(record.next_attempt_at_ms.unwrap_or(0), *id);
                (keys::delivery(webhook, *id), encode(record), due)
            })
            .collect();
        let done =
            (&self.webhooks, &self.deliveries, &self.delivery_queue).transaction(
                |(hooks, log, queue): &(
                    TransactionalTree,
                    TransactionalTree,
                    TransactionalTree,
                )|
                 -> TxResult<bool> {
                    let Some(bytes) = hooks.get(hook_key)? else {
                        return Ok(false);
                    };
                    let mut record: WebhookRecord =
                        decode(&bytes, "webhook").map_err(ConflictableTransactionError::Abort)?;
                    let WebhookKind::Outgoing { cursor, .. } = &mut record.kind else {
                        return Ok(false);
                    };
                    if *cursor != expected_cursor {
                        return Ok(false);
                    }
                    *cursor = new_cursor;
                    hooks.insert(&hook_key, encode(&record))?;
                    for (key, value, due) in &encoded {
                        log.insert(&key[..], value.as_slice())?;
                        queue.insert(&due[..], &queued[..])?;
                    }
                    Ok(true)
                },
            )?;
        Ok(done)
    }

    /// Up to `limit` queued deliveries due at `now_ms`, earliest first.
    pub fn due_deliveries(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>> {
        let end = keys::delivery_due(now_ms.saturating_add(1), [0; keys::WEBHOOK_ID_LEN]);
        self.delivery_queue
            .range(..end)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry?;
                let (due_at_ms, id) = keys::parse_delivery_due(&key)?;
                let (room, webhook) = keys::parse_webhook(&value)?;
                Ok(DueDelivery {
                    due_at_ms,
                    id,
                    room,
                    webhook,
                })
            })
            .collect()
    }

    /// When the earliest queued delivery is due.
    pub fn next_delivery_due(&self) -> StoreResult<Option<u64>> {
        match self.delivery_queue.first()? {
            Some((key, _)) => Ok(Some(keys::parse_delivery_due(&key)?.0)),
            None => Ok(None),
        }
    }

    pub fn delivery(
        &self,
        webhook: WebhookId,
        id: WebhookId,
    ) -> StoreResult<Option<DeliveryRecord>> {
        self.deliveries
            .get(keys::delivery(webhook, id))?
            .map(|bytes| decode(&bytes, "delivery"))
            .transpose()
    }

    /// Writes a delivery's new state and moves its queue entry: to its `next_attempt_at_ms`,
    /// or out of the queue when it has none (delivered, given up). When the delivery is gone
    /// (its webhook was deleted), only the queue entry is dropped.
    pub fn reschedule_delivery(
        &self,
        due: &DueDelivery,
        record: &DeliveryRecord,
    ) -> StoreResult<()> {
        let log_key = keys::delivery(due.webhook, due.id);
        let old_due = keys::delivery_due(due.due_at_ms, due.id);
        let new_due = record
            .next_attempt_at_ms
            .map(|at| keys::delivery_due(at, due.id));
        let queued = keys::webhook(due.room, due.webhook);
        let value = encode(record);
        (&self.deliveries, &self.delivery_queue).transaction(
            |(log, queue): &(TransactionalTree, TransactionalTree)| -> TxResult<()> {
                queue.remove(&old_due[..])?;
                if log.get(log_key)?.is_none() {
                    return Ok(());
                }
                log.insert(&log_key[..], value.as_slice())?;
                if let Some(new_due) = &new_due {
                    queue.insert(&new_due[..], &queued[..])?;
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Drops a queue entry whose delivery no longer exists.
    pub fn drop_due_delivery(&self, due: &DueDelivery) -> StoreResult<()> {
        self.delivery_queue
            .remove(keys::delivery_due(due.due_at_ms, due.id))?;
        Ok(())
    }

    /// A webhook's newest `limit` deliveries, newest first.
    pub fn deliveries_of(
        &self,
        webhook: WebhookId,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.deliveries
            .scan_prefix(webhook)
            .values()
            .rev()
            .take(limit)
            .map(|value| decode(&value?, "delivery"))
            .collect()
    }

    /// Keeps a webhook's log short: finished deliveries beyond the newest `keep` are removed
    /// (unfinished ones always stay).
    pub fn prune_deliveries(&self, webhook: WebhookId, keep: usize) -> StoreResult<()> {
        let mut seen = 0;
        for entry in self.deliveries.scan_prefix(webhook).rev() {
            let (key, value) = entry?;
            seen += 1;
            if seen <= keep {
                continue;
            }
            let record: DeliveryRecord = decode(&value, "delivery")?;
            if record.status.is_finished() {
                self.deliveries.remove(key)?;
            }
        }
        Ok(())
    }
}

/// Removes every webhook of a room being deleted, with their secrets and delivery logs.
pub(super) fn delete_room_webhooks(store: &Store, room: RoomId) -> StoreResult<()> {
    for key in store.webhooks.scan_prefix(keys::room(room)).keys() {
        let (_, id) = keys::parse_webhook(&key?)?;
        store.delete_webhook(room, id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    fn outgoing(id: &str) -> WebhookRecord {
        WebhookRecord {
            id: id.into(),
            name: "ci".into(),
            created_by: "ann".into(),
            created_at_ms: 1,
            last_used_at_ms: None,
            kind: WebhookKind::Outgoing {
                url: "https://example.org/hook".into(),
                events: vec!["message".into()],
                trigger_words: Vec::new(),
                secret: "s".into(),
                cursor: 0,
            },
        }
    }

    fn delivery(id: &str, due: u64) -> DeliveryRecord {
        DeliveryRecord {
            id: id.into(),
            event: "message".into(),
            message: 1,
            created_at_ms: 1,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_attempt_at_ms: None,
            next_attempt_at_ms: Some(due),
            response_status: None,
            error: None,
            payload: "{}".into(),
        }
    }

    #[test]
    fn deliveries_are_queued_with_the_cursor_and_rescheduled_until_finished() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), 16).expect("open");
        let room = RoomId::generate(1);
        let hook = [1; 16];
        store
            .insert_webhook(room, hook, &outgoing("h"), None)
            .expect("insert");
        let queued = [([2; 16], delivery("d1", 50)), ([3; 16], delivery("d2", 60))];
        assert!(store
            .queue_deliveries(room, hook, 0, 7, &queued)
            .expect("queue"));
        assert!(
            !store
                .queue_deliveries(room, hook, 0, 9, &queued)
                .expect("stale"),
            "a stale cursor queues nothing"
        );
        assert_eq!(store.due_deliveries(40, 10).expect("due").len(), 0);
        let due = store.due_deliveries(55, 10).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].room, due[0].webhook, due[0].id),
            (room, hook, [2; 16])
        );
        let mut retry = delivery("d1", 500);
        retry.status = DeliveryStatus::Retrying;
        retry.attempts = 1;
        store.reschedule_delivery(&due[0], &retry).expect("retry");
        assert_eq!(store.next_delivery_due().expect("next"), Some(60));
        let mut done = retry.clone();
        done.status = DeliveryStatus::Delivered;
        done.next_attempt_at_ms = None;
        let due = store.due_deliveries(600, 10).expect("due");
        assert_eq!(due.len(), 2);
        store.reschedule_delivery(&due[1], &done).expect("done");
        let log = store.deliveries_of(hook, 10).expect("log");
        assert_eq!(log[0].id, "d2", "newest first");
        assert_eq!(log[1].status, DeliveryStatus::Delivered);
        match store
            .webhook(room, hook)
            .expect("read")
            .expect("present")
            .kind
        {
            WebhookKind::Outgoing { cursor, .. } => assert_eq!(cursor, 7),
            WebhookKind::Incoming => panic!("kind changed"),
        }
        store.delete_webhook(room, hook).expect("delete");
        assert!(store.deliveries_of(hook, 10).expect("log").is_empty());
        let due = store.due_deliveries(600, 10).expect("due");
        assert_eq!(due.len(), 1, "the queue entry waits until it comes due");
        store.reschedule_delivery(&due[0], &done).expect("gone");
        assert!(store
            .due_deliveries(u64::MAX - 1, 10)
            .expect("due")
            .is_empty());
    }

    #[test]
    fn incoming_webhooks_are_found_by_secret_and_go_with_their_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), 16).expect("open");
        let room = RoomId::generate(1);
        let mut record = outgoing("i");
        record.kind = WebhookKind::Incoming;
        store
            .insert_webhook(room, [4; 16], &record, Some(&[9; 32]))
            .expect("insert");
        let (found_room, found) = store
            .incoming_webhook(&[9; 32])
            .expect("read")
            .expect("found");
        assert_eq!((found_room, found.id.as_str()), (room, "i"));
        delete_room_webhooks(&store, room).expect("delete");
        assert!(store.incoming_webhook(&[9; 32]).expect("read").is_none());
        assert!(store.webhooks_of(room).expect("list").is_empty());
    }
}
