//! Messages of a room, keyed by (room, sequence number), and the per-sender nonce index that
//! makes a retried send idempotent.

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::mentions::{Mentioned, RunningCounts};
use super::records::{decode, encode};
use super::{keys, AttachmentRecord, MessageRecord, Store, StoreError, StoreResult};
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

/// What `changed_since` found: (id, current record) in change order, and the change to resume
/// after when the scan stopped at its limit.
#[derive(Debug)]
pub struct ChangedSince {
    pub messages: Vec<(u64, MessageRecord)>,
    pub resume_after: Option<u64>,
}

/// A message encoded for storage, ready to be appended in a batch. Encoding happens where the
/// message is accepted, so the single committer task only writes bytes.
#[derive(Debug, Clone)]
pub struct EncodedMessage {
    key: [u8; keys::ROOM_ID_LEN + 8],
    value: Vec<u8>,
    nonce_key: Option<Vec<u8>>,
    seq: u64,
    room: RoomId,
    sent_at_ms: u64,
    /// For a changed message: its new entry in the change index, and the one it replaces.
    change: Option<Box<ChangeKeys>>,
    /// Whom it mentions, counted in the mention index when it is written (see `mentions`);
    /// boxed, as most messages mention no one and the committer's queue holds many.
    mentioned: Option<Box<Mentioned>>,
    /// The attachments it is sent with: their records, now naming it, written with it.
    claims: Vec<([u8; 16], Vec<u8>)>,
}

#[derive(Debug, Clone)]
struct ChangeKeys {
    new: [u8; keys::ROOM_ID_LEN + 8],
    replaced: Option<[u8; keys::ROOM_ID_LEN + 8]>,
}

impl EncodedMessage {
    pub fn new(room: RoomId, seq: u64, message: &MessageRecord) -> Self {
        Self {
            key: keys::message(room, seq),
            value: encode(message),
            nonce_key: message
                .nonce
                .as_deref()
                .map(|nonce| keys::nonce(room, &message.author, nonce)),
            seq,
            room,
            sent_at_ms: message.sent_at_ms,
            change: None,
            mentioned: Some(Box::new(Mentioned::of(message))).filter(|m| !m.is_empty()),
            claims: Vec::new(),
        }
    }

    /// Sends `attachments` (their records, unsent until now) with this message.
    pub fn claim(&mut self, attachments: &[(crate::ids::AttachmentId, AttachmentRecord)]) {
        self.claims = attachments
            .iter()
            .map(|(id, record)| {
                let mut sent = record.clone();
                sent.message = Some(self.seq);
                (id.to_bytes(), encode(&sent))
            })
            .collect();
    }
}

impl EncodedMessage {
    /// The new state of stored message `id` after a change numbered `changed_seq` (set in
    /// `message`); `previous` is the record it replaces. Written like a new message, so the
    /// committer keeps changes and sends in one order.
    pub fn changed(
        room: RoomId,
        id: u64,
        message: &MessageRecord,
        previous: &MessageRecord,
    ) -> Self {
        let mut encoded = Self::new(room, id, message);
        // The nonce index already points at this message, and its mentions were indexed when
        // it was sent (an edit does not notify again).
        encoded.nonce_key = None;
        encoded.mentioned = None;
        encoded.change = message.changed_seq.map(|seq| {
            Box::new(ChangeKeys {
                new: keys::message(room, seq),
                replaced: previous.changed_seq.map(|seq| keys::message(room, seq)),
            })
        });
        encoded
    }
}

impl Store {
    /// Stores messages, and the nonce index entries of those that have a nonce, all or nothing:
    /// a crash can never leave a nonce pointing at nothing, nor a message whose retry would be
    /// stored twice. One transaction per batch keeps sled's global write lock off the per-message
    /// path (a transaction per message cost ~90 µs, one per 200 messages ~25 µs per message).
    pub fn append_messages(&self, batch: &[&EncodedMessage]) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // The change and mention indexes join the transaction only for batches that change a
        // message or mention someone: each tree in a sled transaction adds to the time its
        // global write lock is held.
        let indexed = batch.iter().any(|message| {
            message.change.is_some() || message.mentioned.is_some() || !message.claims.is_empty()
        });
        let written = if indexed {
            let everyone = self.everyone_in(
                batch
                    .iter()
                    .filter(|message| message.mentioned.as_ref().is_some_and(|m| m.everyone()))
                    .map(|message| message.room),
            )?;
            (
                &self.messages,
                &self.nonces,
                &self.changes,
                &self.mention_index,
                &self.mention_totals,
                &self.attachments,
            )
                .transaction(
                    |(messages, nonces, changes, index, totals, attachments): &(
                        TransactionalTree,
                        TransactionalTree,
                        TransactionalTree,
                        TransactionalTree,
                        TransactionalTree,
                        TransactionalTree,
                    )| {
                        let mut counts = RunningCounts::new(index, totals);
                        for message in batch {
                            write_message(messages, nonces, message)?;
                            if let Some(change) = &message.change {
                                if let Some(replaced) = &change.replaced {
                                    changes.remove(&replaced[..])?;
                                }
                                changes.insert(&change.new[..], &keys::seq_value(message.seq))?;
                            }
                            let members = everyone.get(&message.room).map(|m| m.names());
                            if let Some(mentioned) = &message.mentioned {
                                for username in mentioned.recipients(members.into_iter().flatten())
                                {
                                    counts.add(message.room, username, message.seq)?;
                                }
                            }
                            for (id, record) in &message.claims {
                                attachments.insert(&id[..], record.as_slice())?;
                            }
                        }
                        counts.finish()
                    },
                )
        } else {
            (&self.messages, &self.nonces).transaction(
                |(messages, nonces): &(TransactionalTree, TransactionalTree)| {
                    for message in batch {
                        write_message(messages, nonces, message)?;
                    }
                    Ok(())
                },
            )
        };
        written.map_err(StoreError::from)?;
        self.note_messages(batch.iter().map(|m| (m.room, m.seq, m.sent_at_ms)));
        Ok(())
    }

    /// Stores one message (see `append_messages`).
    pub fn insert_message(
        &self,
        room: RoomId,
        seq: u64,
        message: &MessageRecord,
    ) -> StoreResult<()> {
        self.append_messages(&[&EncodedMessage::new(room, seq, message)])
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
        if let Some(message) = self.message(room, seq)? {
            self.unclaim_attachments(seq, &message.attachments)?;
        }
        self.messages.remove(keys::message(room, seq))?;
        self.forget_newest_message(room);
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

    /// The highest sequence number used in `room` by a message or a change, 0 for none.
    pub fn last_seq(&self, room: RoomId) -> StoreResult<u64> {
        let last = |tree: &sled::Tree| match tree.scan_prefix(keys::room(room)).keys().next_back() {
            Some(key) => keys::parse_message_seq(&key?),
            None => Ok(0),
        };
        Ok(last(&self.messages)?.max(last(&self.changes)?))
    }

    /// Messages with an id up to `up_to` whose last change is numbered above `after` (and at
    /// most `up_to`), in change order: what a client that saw everything up to `seen` is
    /// missing of the older messages. Scans at most `limit` changes after change `from` (`seen`
    /// at first); returns what it found and, when the scan stopped at the limit, the last change
    /// scanned, to continue from.
    pub fn changed_since(
        &self,
        room: RoomId,
        seen: u64,
        from: u64,
        up_to: u64,
        limit: usize,
    ) -> StoreResult<ChangedSince> {
        let mut page = ChangedSince {
            messages: Vec::new(),
            resume_after: None,
        };
        if from >= up_to {
            return Ok(page);
        }
        let start = keys::message(room, from.saturating_add(1));
        let end = keys::message(room, up_to);
        let mut last = from;
        for (scanned, entry) in self.changes.range(start..=end).enumerate() {
            if scanned == limit {
                page.resume_after = Some(last);
                break;
            }
            let (key, id) = entry?;
            last = keys::parse_message_seq(&key)?;
            let id = keys::parse_seq_value(&id)?;
            if id > seen {
                // New since the cursor: it comes with the messages after it, current state.
                continue;
            }
            if let Some(record) = self.message(room, id)? {
                page.messages.push((id, record));
            }
        }
        Ok(page)
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

    pub fn message_count(&self) -> StoreResult<usize> {
        super::count_entries(self.messages.iter())
    }
}

/// A message and its nonce index entry, inside `append_messages`' transaction.
fn write_message(
    messages: &TransactionalTree,
    nonces: &TransactionalTree,
    message: &EncodedMessage,
) -> Result<(), sled::transaction::ConflictableTransactionError<StoreError>> {
    messages.insert(&message.key[..], message.value.as_slice())?;
    if let Some(nonce_key) = &message.nonce_key {
        nonces.insert(nonce_key.as_slice(), &keys::seq_value(message.seq))?;
    }
    Ok(())
}
