//! What each member has read of each room, how they want to be notified about it, and the
//! mention index that mention counts are read from.

use super::records::{decode, encode};
use super::{keys, NotificationLevel, ReadMarkerRecord, Store, StoreResult};
use crate::ids::RoomId;

impl Store {
    pub fn read_marker(
        &self,
        room: RoomId,
        username: &str,
    ) -> StoreResult<Option<ReadMarkerRecord>> {
        self.read_markers
            .get(keys::room_member(room, username))?
            .map(|bytes| decode(&bytes, "read marker"))
            .transpose()
    }

    /// Moves a marker forward to `marker`; a marker at or past it stays. Returns the marker
    /// now stored, and whether it moved.
    pub fn advance_read_marker(
        &self,
        room: RoomId,
        username: &str,
        marker: ReadMarkerRecord,
    ) -> StoreResult<(ReadMarkerRecord, bool)> {
        let key = keys::room_member(room, username);
        loop {
            let current = self.read_markers.get(&key)?;
            if let Some(bytes) = &current {
                let stored: ReadMarkerRecord = decode(bytes, "read marker")?;
                if stored.message >= marker.message {
                    return Ok((stored, false));
                }
            }
            // Compare-and-swap: two devices marking at once both move it forward, never back.
            let swapped =
                self.read_markers
                    .compare_and_swap(&key, current, Some(encode(&marker)))?;
            if swapped.is_ok() {
                return Ok((marker, true));
            }
        }
    }

    pub fn notification_level(
        &self,
        room: RoomId,
        username: &str,
    ) -> StoreResult<Option<NotificationLevel>> {
        self.notification_levels
            .get(keys::room_member(room, username))?
            .map(|bytes| decode(&bytes, "notification level"))
            .transpose()
    }

    pub fn set_notification_level(
        &self,
        room: RoomId,
        username: &str,
        level: NotificationLevel,
    ) -> StoreResult<()> {
        self.notification_levels
            .insert(keys::room_member(room, username), encode(&level))?;
        Ok(())
    }

    /// Messages after `after` that mention `username`, by name or as `@room` (not their own).
    pub fn mention_count(&self, room: RoomId, username: &str, after: u64) -> StoreResult<u64> {
        let start = after.saturating_add(1);
        let mut count = 0;
        let named = keys::mentions_prefix(room, Some(username));
        for key in self
            .mention_index
            .range(keys::mention(room, Some(username), start)..)
            .keys()
        {
            if !key?.starts_with(&named) {
                break;
            }
            count += 1;
        }
        let everyone = keys::mentions_prefix(room, None);
        let me = keys::user(username);
        for entry in self.mention_index.range(keys::mention(room, None, start)..) {
            let (key, author) = entry?;
            if !key.starts_with(&everyone) {
                break;
            }
            if author.as_ref() != me.as_slice() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The newest message of `room` that mentions anyone (by name or `@room`), if any: one
    /// pass over the room's mention entries, each key ending in its message's number.
    pub fn latest_mention(&self, room: RoomId) -> StoreResult<Option<u64>> {
        let mut latest = None;
        for key in self.mention_index.scan_prefix(keys::room(room)).keys() {
            let key = key?;
            let seq = keys::mention_seq(&key)?;
            latest = latest.max(Some(seq));
        }
        Ok(latest)
    }

    /// The ordinal of message `seq` of `room`: stored with it, or for a message stored before
    /// ordinals existed, its place counted from the room's first message.
    pub fn ordinal_of(&self, room: RoomId, seq: u64) -> StoreResult<Option<u64>> {
        let Some(record) = self.message(room, seq)? else {
            return Ok(None);
        };
        if let Some(ordinal) = record.ordinal {
            return Ok(Some(ordinal));
        }
        let count = self
            .messages
            .range(keys::message(room, 0)..=keys::message(room, seq))
            .count();
        Ok(Some(count as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EncodedMessage, MessageRecord};

    #[test]
    fn markers_only_move_forward_and_mentions_are_counted_after_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), 16).expect("open");
        let room = RoomId::generate(1);
        let message = |seq: u64, author: &str, mentions: &[&str]| {
            let mut record = MessageRecord::new(author.into(), "hi".into(), seq, None);
            record.ordinal = Some(seq);
            record.mentions = mentions.iter().map(|m| m.to_string()).collect();
            EncodedMessage::new(room, seq, &record)
        };
        let batch = [
            message(1, "ann", &["bob"]),
            message(2, "bob", &["room"]),
            message(3, "ann", &["room", "bob"]),
            message(4, "bob", &["bob"]),
        ];
        store
            .append_messages(&batch.iter().collect::<Vec<_>>())
            .expect("append");
        assert_eq!(store.mention_count(room, "bob", 0).expect("count"), 3);
        assert_eq!(store.mention_count(room, "ann", 0).expect("count"), 1);
        assert_eq!(store.mention_count(room, "bob", 2).expect("count"), 2);
        assert_eq!(store.mention_count(room, "Bob", 3).expect("count"), 0);
        let marker = |message| ReadMarkerRecord {
            message,
            ordinal: message,
        };
        assert_eq!(
            store
                .advance_read_marker(room, "bob", marker(3))
                .expect("mark"),
            (marker(3), true)
        );
        assert_eq!(
            store
                .advance_read_marker(room, "BOB", marker(2))
                .expect("mark"),
            (marker(3), false),
            "markers never move back"
        );
        assert_eq!(
            store.read_marker(room, "bob").expect("read"),
            Some(marker(3))
        );
        assert_eq!(store.ordinal_of(room, 4).expect("ordinal"), Some(4));
        assert_eq!(store.ordinal_of(room, 9).expect("ordinal"), None);
    }
}
