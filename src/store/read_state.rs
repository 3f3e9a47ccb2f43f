//! What each member has read of each room, and how they want to be notified about it.

use super::records::{decode, encode};
use super::{keys, NotificationLevel, ReadMarkerRecord, Store, StoreResult};
use crate::ids::RoomId;

impl Store {
    /// Moves a marker forward to `marker`; a marker at or past it stays. Returns the marker
    /// now stored (with its mention count), and whether it moved.
    pub fn advance_read_marker(
        &self,
        room: RoomId,
        username: &str,
        mut marker: ReadMarkerRecord,
    ) -> StoreResult<(ReadMarkerRecord, bool)> {
        let key = keys::room_member(room, username);
        // The counts up to a stored message never change, so this may be read before the swap.
        marker.mentions = Some(match self.mention_total(room, username)? {
            0 => 0,
            _ => self.mentions_through(room, username, marker.message)?,
        });
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
                self.note_read_marker(room, username, marker);
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

    /// The ordinal of message `seq` of `room`: stored with it, or for a message stored before
    /// ordinals existed, its place counted from the room's first message.
    pub fn ordinal_of(&self, room: RoomId, seq: u64) -> StoreResult<Option<u64>> {
        let Some(record) = self.message(room, seq)? else {
            return Ok(None);
        };
        if let Some(ordinal) = record.ordinal {
            return Ok(Some(ordinal));
        }
        let count = super::count_entries(
            self.messages
                .range(keys::message(room, 0)..=keys::message(room, seq)),
        )?;
        Ok(Some(count as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::encode;
    use crate::store::{EncodedMessage, MemberRecord, MessageRecord, Role};

    fn store_with_members(dir: &std::path::Path, room: RoomId, members: &[&str]) -> Store {
        let store = Store::open(dir, 16).expect("open");
        for name in members {
            let member = MemberRecord {
                role: Role::Member,
                joined_at_ms: 1,
            };
            store
                .room_members
                .insert(keys::room_member(room, name), encode(&member))
                .expect("member");
        }
        store
    }

    fn message(room: RoomId, seq: u64, author: &str, mentions: &[&str]) -> EncodedMessage {
        let mut record = MessageRecord::new(author.into(), "hi".into(), seq, None);
        record.ordinal = Some(seq);
        record.mentions = mentions.iter().map(|m| m.to_string()).collect();
        EncodedMessage::new(room, seq, &record)
    }

    fn marker(message: u64) -> ReadMarkerRecord {
        ReadMarkerRecord {
            message,
            ordinal: message,
            mentions: None,
        }
    }

    #[test]
    fn markers_only_move_forward_and_mentions_are_counted_after_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let room = RoomId::generate(1);
        let store = store_with_members(dir.path(), room, &["ann", "bob", "cy"]);
        let batch = [
            message(room, 1, "ann", &["bob"]),
            message(room, 2, "bob", &["room"]),
            message(room, 3, "ann", &["room", "bob"]),
        ];
        store
            .append_messages(&batch.iter().collect::<Vec<_>>())
            .expect("append");
        // A second batch continues the running counts of the first.
        store
            .append_messages(&[&message(room, 4, "bob", &["bob"])])
            .expect("append");
        let count = |name: &str, marker: Option<ReadMarkerRecord>| {
            store
                .mention_count(room, name, marker.as_ref())
                .expect("count")
        };
        // Message 4 names only its own author: it mentions no one.
        assert_eq!(store.newest_mention(room).expect("newest"), Some(3));
        assert_eq!(
            store.newest_mention(RoomId::generate(2)).expect("newest"),
            None
        );
        assert_eq!(count("bob", None), 2, "by name, and @room from ann");
        assert_eq!(count("ann", None), 1, "@room from bob, never her own");
        assert_eq!(count("cy", None), 2, "both @room messages");
        assert_eq!(
            count("bob", Some(marker(2))),
            1,
            "from a marker without a count"
        );
        assert_eq!(count("Bob", Some(marker(3))), 0);

        let (stored, moved) = store
            .advance_read_marker(room, "bob", marker(1))
            .expect("mark");
        assert!(moved);
        assert_eq!(stored.mentions, Some(1));
        assert_eq!(count("bob", Some(stored)), 1);
        let (stored, _) = store
            .advance_read_marker(room, "bob", marker(3))
            .expect("mark");
        assert_eq!(stored.mentions, Some(2));
        assert_eq!(
            store
                .advance_read_marker(room, "BOB", marker(2))
                .expect("mark"),
            (stored, false),
            "markers never move back"
        );
        assert_eq!(store.read_marker(room, "bob").expect("read"), Some(stored));
        assert_eq!(count("bob", Some(stored)), 0);
        assert_eq!(store.ordinal_of(room, 4).expect("ordinal"), Some(4));
        assert_eq!(store.ordinal_of(room, 9).expect("ordinal"), None);
    }

    /// The index rebuilt from the messages (after a restore or an upgrade) holds the counts the
    /// group commit kept, markers included.
    #[test]
    fn a_rebuilt_mention_index_equals_the_one_kept_by_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let room = RoomId::generate(1);
        let store = store_with_members(dir.path(), room, &["ann", "bob", "cy"]);
        let mentions: [&[&str]; 4] = [&["bob"], &["room"], &[], &["cy", "room"]];
        for (n, mentioned) in mentions.iter().enumerate() {
            let seq = n as u64 + 1;
            let author = if seq % 2 == 0 { "bob" } else { "ann" };
            store
                .append_messages(&[&message(room, seq, author, mentioned)])
                .expect("append");
        }
        store
            .advance_read_marker(room, "cy", marker(2))
            .expect("mark");
        let snapshot = |store: &Store| {
            let index: Vec<_> = store
                .mention_index
                .iter()
                .collect::<Result<_, _>>()
                .expect("index");
            let totals: Vec<_> = store
                .mention_totals
                .iter()
                .collect::<Result<_, _>>()
                .expect("totals");
            let cy = store.read_marker(room, "cy").expect("marker");
            (index, totals, cy)
        };
        let kept = snapshot(&store);
        assert_eq!(kept.2.and_then(|m| m.mentions), Some(1));
        store
            .read_markers
            .insert(keys::room_member(room, "cy"), encode(&marker(2)))
            .expect("marker without a count");
        let rooms_key = keys::room(room);
        store.rooms.insert(rooms_key, &b"{}"[..]).expect("room");
        store.rebuild_mention_index().expect("rebuild");
        assert_eq!(snapshot(&store), kept);
    }
}
