//! The mention index: who each message mentions, with a running count per (room, user), so an
//! unread mention count is a subtraction of two stored numbers instead of a scan.
//!
//! Each entry `(room, user, seq)` holds how many messages of the room have mentioned the user
//! up to and including `seq`, and `mention_totals` holds the newest of those counts. A read
//! marker keeps the count as of its message (`ReadMarkerRecord::mentions`), taken with one
//! lookup when the marker moves. Unread mentions = total - marker's count: O(1) per member, for
//! every listing and every `room_activity` notice. The counts are written in the group commit's
//! transaction, by the one committer, so they never race with each other.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::records::decode;
use super::{keys, MessageRecord, ReadMarkerRecord, RoomMembers, Store, StoreError, StoreResult};
use crate::ids::RoomId;

/// The mention that names everyone in the room (`@room`), as it is listed on a message.
const EVERYONE: &str = "room";

/// Whom a message mentions, as sent: its named users and whether it said `@room`. Never its
/// author, who is not told about their own message.
#[derive(Debug, Clone, Default)]
pub(super) struct Mentioned {
    names: Vec<String>,
    everyone: bool,
    author: String,
}

impl Mentioned {
    pub(super) fn of(message: &MessageRecord) -> Self {
        let author = message.author.to_ascii_lowercase();
        let mut mentioned = Self {
            author,
            ..Self::default()
        };
        for name in &message.mentions {
            if name == EVERYONE {
                mentioned.everyone = true;
            } else if !name.eq_ignore_ascii_case(&mentioned.author) {
                mentioned.names.push(name.to_ascii_lowercase());
            }
        }
        mentioned
    }

    pub(super) fn is_empty(&self) -> bool {
        self.names.is_empty() && !self.everyone
    }

    pub(super) fn everyone(&self) -> bool {
        self.everyone
    }

    /// The users this message counts for, once each; `members` (lowercase) is who `@room`
    /// reaches.
    pub(super) fn recipients<'a>(
        &'a self,
        members: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<&'a str> {
        let mut recipients: BTreeSet<&str> = self.names.iter().map(String::as_str).collect();
        if self.everyone {
            recipients.extend(members.into_iter().filter(|member| *member != self.author));
        }
        recipients
    }
}

/// The running counts a commit batch moves, inside its transaction: read once from
/// `mention_totals`, counted up per mention, written back at the end.
pub(super) struct RunningCounts<'t> {
    index: &'t TransactionalTree,
    totals: &'t TransactionalTree,
    counts: HashMap<Vec<u8>, u64>,
    /// Each room's newest message that mentions anyone, in this batch.
    newest: HashMap<RoomId, u64>,
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl<'t> RunningCounts<'t> {
    pub(super) fn new(index: &'t TransactionalTree, totals: &'t TransactionalTree) -> Self {
        Self {
            index,
            totals,
            counts: HashMap::new(),
            newest: HashMap::new(),
        }
    }

    /// Message `seq` of `room` mentions `username`.
    pub(super) fn add(&mut self, room: RoomId, username: &str, seq: u64) -> TxResult<()> {
        let key = keys::room_member(room, username);
        let count = match self.counts.get(&key) {
            Some(count) => *count,
            None => match self.totals.get(&key)? {
                Some(bytes) => {
                    keys::parse_seq_value(&bytes).map_err(ConflictableTransactionError::Abort)?
                }
                None => 0,
            },
        } + 1;
        self.index
            .insert(keys::mention(room, username, seq), &keys::seq_value(count))?;
        self.counts.insert(key, count);
        let newest = self.newest.entry(room).or_default();
        *newest = (*newest).max(seq);
        Ok(())
    }

    pub(super) fn finish(self) -> TxResult<()> {
        for (key, count) in self.counts {
            self.totals.insert(key, &keys::seq_value(count))?;
        }
        for (room, seq) in self.newest {
            self.totals
                .insert(&keys::newest_mention(room)[..], &keys::seq_value(seq))?;
        }
        Ok(())
    }
}

impl Store {
    /// Unread mentions of `username` in `room`: those after `marker` (all of them without one).
    pub fn mention_count(
        &self,
        room: RoomId,
        username: &str,
        marker: Option<&ReadMarkerRecord>,
    ) -> StoreResult<u64> {
        let total = self.mention_total(room, username)?;
        if total == 0 {
            return Ok(0);
        }
        let seen = match marker {
            None => 0,
            Some(ReadMarkerRecord {
                mentions: Some(seen),
                ..
            }) => *seen,
            // A marker from before the counts were kept.
            Some(marker) => self.mentions_through(room, username, marker.message)?,
        };
        Ok(total.saturating_sub(seen))
    }

    /// The number of `room`'s newest message that mentions anyone (`None`: none ever did). A
    /// member whose marker is at or past it has no unread mention, which spares most members
    /// of most `room_activity` notices a lookup of their own.
    pub fn newest_mention(&self, room: RoomId) -> StoreResult<Option<u64>> {
        self.mention_totals
            .get(keys::newest_mention(room))?
            .map(|bytes| keys::parse_seq_value(&bytes))
            .transpose()
    }

    /// How many messages of `room` have mentioned `username` so far.
    pub(super) fn mention_total(&self, room: RoomId, username: &str) -> StoreResult<u64> {
        self.mention_totals
            .get(keys::room_member(room, username))?
            .map_or(Ok(0), |bytes| keys::parse_seq_value(&bytes))
    }

    /// How many messages of `room` up to and including `seq` mention `username`: the count of
    /// the last entry at or before it.
    pub(super) fn mentions_through(
        &self,
        room: RoomId,
        username: &str,
        seq: u64,
    ) -> StoreResult<u64> {
        let first = keys::mention(room, username, 0);
        let last = keys::mention(room, username, seq);
        match self.mention_index.range(first..=last).next_back() {
            Some(entry) => keys::parse_seq_value(&entry?.1),
            None => Ok(0),
        }
    }

    /// Who `@room` reaches in each room of `rooms` that a message of a batch says it to: the
    /// members when the batch is written.
    pub(super) fn everyone_in(
        &self,
        rooms: impl Iterator<Item = RoomId>,
    ) -> StoreResult<HashMap<RoomId, Arc<RoomMembers>>> {
        let mut members = HashMap::new();
        for room in rooms {
            if let std::collections::hash_map::Entry::Vacant(slot) = members.entry(room) {
                slot.insert(self.room_member_list(room)?);
            }
        }
        Ok(members)
    }

    /// Derives the mention index, the totals and every read marker's count from the messages
    /// and today's members (after a restore, or an upgrade from schema 3, whose index had no
    /// counts). `@room` counts for today's members. Returns how many entries were written.
    pub(super) fn rebuild_mention_index(&self) -> StoreResult<u64> {
        self.mention_index.clear()?;
        self.mention_totals.clear()?;
        let mut written = 0;
        for key in self.rooms.iter().keys() {
            let room = keys::parse_room_id(&key?)?;
            let members = self.members(room)?;
            let mut totals: HashMap<String, u64> = HashMap::new();
            let mut newest = None;
            let mut batch = sled::Batch::default();
            for entry in self.messages.scan_prefix(keys::room(room)) {
                let (key, value) = entry?;
                let message: MessageRecord = decode(&value, "message")?;
                let mentioned = Mentioned::of(&message);
                if mentioned.is_empty() {
                    continue;
                }
                let seq = keys::parse_message_seq(&key)?;
                let mut counted = false;
                for username in mentioned.recipients(members.iter().map(|(name, _)| name.as_str()))
                {
                    counted = true;
                    let count = totals.entry(username.to_owned()).or_default();
                    *count += 1;
                    batch.insert(keys::mention(room, username, seq), &keys::seq_value(*count));
                    written += 1;
                }
                if counted {
                    newest = Some(seq);
                }
            }
            self.mention_index.apply_batch(batch)?;
            if let Some(seq) = newest {
                self.mention_totals
                    .insert(keys::newest_mention(room), &keys::seq_value(seq))?;
            }
            for (username, total) in &totals {
                self.mention_totals
                    .insert(keys::room_member(room, username), &keys::seq_value(*total))?;
            }
            self.recount_markers(room)?;
        }
        Ok(written)
    }

    /// Gives every read marker of `room` its mention count from the index.
    fn recount_markers(&self, room: RoomId) -> StoreResult<()> {
        for entry in self.read_markers.scan_prefix(keys::room(room)) {
            let (key, value) = entry?;
            let (_, username) = keys::parse_room_member(&key)?;
            let mut marker: ReadMarkerRecord = decode(&value, "read marker")?;
            marker.mentions = Some(self.mentions_through(room, &username, marker.message)?);
            self.read_markers
                .insert(&key, super::records::encode(&marker))?;
        }
        self.forget_read_markers(room);
        Ok(())
    }
}
