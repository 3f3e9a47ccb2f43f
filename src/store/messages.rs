//! Messages of a room, keyed by (room, sequence number), and the per-sender nonce index that
//! makes a retried send idempotent.

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::records::{decode, encode};
use super::{keys, MessageRecord, Store, StoreError, StoreResult};
use crate::ids::RoomId;

/// A page request over one room's messages.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Only messages with a larger sequence number.
    pub after: Option<u64>,
    /// Only messages with a smaller sequence number.
    pub before: Option<u64>,
    pub limit: usize,
}

impl Store {
    /// Stores a message, and its nonce index entry when it has a nonce, atomically: a crash can
    /// never leave a nonce pointing at nothing, nor a message whose retry would be stored twice.
    pub fn insert_message(
        &self,
        room: RoomId,
        seq: u64,
        message: &MessageRecord,
    ) -> StoreResult<()> {
        let key = keys::message(room, seq);
        let value = encode(message);
        match &message.nonce {
            None => {
                self.messages.insert(key, value)?;
            }
            Some(nonce) => {
                let nonce_key = keys::nonce(room, &message.author, nonce);
                (&self.messages, &self.nonces)
                    .transaction(
                        |(messages, nonces): &(TransactionalTree, TransactionalTree)| {
                            messages.insert(&key, value.as_slice())?;
                            nonces.insert(nonce_key.as_slice(), &keys::seq_value(seq))?;
                            Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
                        },
                    )
                    .map_err(StoreError::from)?;
            }
        }
        Ok(())
    }

    /// Takes back a message whose flush failed, so that it never surfaces later unacknowledged
    /// and a retry with the same nonce stores it afresh.
    pub fn remove_message(
        &self,
        room: RoomId,
        seq: u64,
        author: &str,
        nonce: Option<&str>,
    ) -> StoreResult<()> {
        if let Some(nonce) = nonce {
            self.nonces.remove(keys::nonce(room, author, nonce))?;
        }
        self.messages.remove(keys::message(room, seq))?;
        Ok(())
    }

    /// The sequence number of the message `author` sent earlier with `nonce`, if any.
    pub fn nonce_seq(&self, room: RoomId, author: &str, nonce: &str) -> StoreResult<Option<u64>> {
        self.nonces
            .get(keys::nonce(room, author, nonce))?
            .map(|v| keys::parse_seq_value(&v))
            .transpose()
    }

    pub fn message(&self, room: RoomId, seq: u64) -> StoreResult<Option<MessageRecord>> {
        self.messages
            .get(keys::message(room, seq))?
            .map(|v| decode(&v, "message"))
            .transpose()
    }

    /// The highest sequence number stored in `room`, 0 when it has no messages.
    pub fn last_seq(&self, room: RoomId) -> StoreResult<u64> {
        match self
            .messages
            .scan_prefix(keys::room(room))
            .keys()
            .next_back()
        {
            Some(key) => keys::parse_message_seq(&key?),
            None => Ok(0),
        }
    }

    /// The newest message of `room` with its sequence number.
    pub fn last_message(&self, room: RoomId) -> StoreResult<Option<(u64, MessageRecord)>> {
        match self.messages.scan_prefix(keys::room(room)).next_back() {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some((
                    keys::parse_message_seq(&key)?,
                    decode(&value, "message")?,
                )))
            }
            None => Ok(None),
        }
    }

    /// One page of `room`, oldest first. With `after`, the oldest `limit` messages after it;
    /// otherwise the newest `limit` messages (before `before` when given).
    pub fn messages(&self, room: RoomId, page: Page) -> StoreResult<Vec<(u64, MessageRecord)>> {
        let start = keys::message(room, page.after.map_or(0, |a| a.saturating_add(1)));
        let end = keys::message(room, page.before.unwrap_or(u64::MAX));
        if start >= end {
            return Ok(Vec::new());
        }
        let range = self.messages.range(start..end);
        let decode_entry =
            |entry: sled::Result<(sled::IVec, sled::IVec)>| -> StoreResult<(u64, MessageRecord)> {
                let (key, value) = entry?;
                Ok((keys::parse_message_seq(&key)?, decode(&value, "message")?))
            };
        if page.after.is_some() {
            range.take(page.limit).map(decode_entry).collect()
        } else {
            let mut newest: Vec<_> = range
                .rev()
                .take(page.limit)
                .map(decode_entry)
                .collect::<StoreResult<_>>()?;
            newest.reverse();
            Ok(newest)
        }
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }
}
