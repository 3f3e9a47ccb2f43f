//! Upgrades of the stored data between confab versions, run when the database is opened.
//!
//! Schema 1 had no membership: every room was public and anyone could post. Schema 2 gives each
//! room a kind and members. Rooms from schema 1 (in a live database, or restored from a version 1
//! backup) become public rooms whose members are their creator (the owner) and everyone who
//! wrote in them, so people keep the rooms they were in. Schema 3 numbers every message within
//! its room (`MessageRecord::ordinal`), so unread counts are a subtraction. Schema 4 keeps a
//! running count in the mention index (see `mentions`), so mention counts are one too.

use std::collections::BTreeMap;

use super::records::decode;
use super::{keys, MemberRecord, Role, RoomKind, RoomRecord, Store, StoreResult};
use crate::ids::RoomId;

pub(super) const SCHEMA_VERSION: u64 = 4;

impl Store {
    /// Brings the data up to [`SCHEMA_VERSION`]; a no-op for a current or empty database.
    pub(super) fn migrate(&self) -> StoreResult<()> {
        let version = match self.meta.get(keys::SCHEMA)? {
            Some(bytes) => keys::parse_seq_value(&bytes)?,
            None if self.rooms.is_empty() => SCHEMA_VERSION,
            None => 1,
        };
        if version < 2 {
            let rooms = self.derive_memberships()?;
            tracing::info!(
                rooms,
                "upgraded rooms to schema 2: public, members from authors"
            );
        }
        if version < 3 {
            let numbered = self.number_messages()?;
            tracing::info!(
                numbered,
                "upgraded messages to schema 3: numbered within their rooms"
            );
        }
        if version < 4 {
            let entries = self.rebuild_mention_index()?;
            tracing::info!(
                entries,
                "upgraded the mention index to schema 4: running counts"
            );
        }
        if version != SCHEMA_VERSION || self.meta.get(keys::SCHEMA)?.is_none() {
            self.meta
                .insert(keys::SCHEMA, &keys::seq_value(SCHEMA_VERSION))?;
            self.db.flush()?;
        }
        self.forget_directory();
        Ok(())
    }

    /// Gives every room that has no members yet its creator (owner) and its authors (members),
    /// each joined at their first message, and lists public rooms in the public index. Users
    /// that no longer exist are left out. Returns how many rooms got members.
    pub(super) fn derive_memberships(&self) -> StoreResult<usize> {
        let mut upgraded = 0;
        for entry in self.rooms.iter() {
            let (room_key, value) = entry?;
            let id = keys::parse_room_id(&room_key)?;
            let mut record: RoomRecord = decode(&value, "room")?;
            if record.kind == RoomKind::Public {
                self.public_rooms.insert(&room_key, &[])?;
            }
            if self
                .room_members
                .scan_prefix(&room_key)
                .next()
                .transpose()?
                .is_some()
            {
                continue;
            }
            let members = self.authors_of(id, &record)?;
            for (username, member) in &members {
                self.put_member_unchecked(id, username, member)?;
            }
            record.member_count = members.len() as u64;
            self.rooms
                .insert(&room_key, super::records::encode(&record))?;
            upgraded += 1;
        }
        Ok(upgraded)
    }

    /// Gives every message without an ordinal its place in its room (1, 2, 3, ... in id order,
    /// tombstones included, as new messages get them). Returns how many were numbered.
    pub(super) fn number_messages(&self) -> StoreResult<usize> {
        let mut numbered = 0;
        let mut room: Option<RoomId> = None;
        let mut ordinal = 0;
        for entry in self.messages.iter() {
            let (key, value) = entry?;
            let this_room = keys::parse_room_id(&key[..keys::ROOM_ID_LEN.min(key.len())])?;
            if room != Some(this_room) {
                room = Some(this_room);
                ordinal = 0;
            }
            ordinal += 1;
            let mut message: super::MessageRecord = decode(&value, "message")?;
            if message.ordinal == Some(ordinal) {
                continue;
            }
            message.ordinal = Some(ordinal);
            self.messages
                .insert(&key, super::records::encode(&message))?;
            numbered += 1;
        }
        Ok(numbered)
    }

    /// The creator and every author of `room` who still has an account.
    fn authors_of(
        &self,
        room: RoomId,
        record: &RoomRecord,
    ) -> StoreResult<BTreeMap<String, MemberRecord>> {
        let mut members = BTreeMap::new();
        if self.user(&record.created_by)?.is_some() {
            members.insert(
                record.created_by.to_ascii_lowercase(),
                MemberRecord {
                    role: Role::Owner,
                    joined_at_ms: record.created_at_ms,
                },
            );
        }
        for entry in self.messages.scan_prefix(keys::room(room)).values() {
            let message: super::MessageRecord = decode(&entry?, "message")?;
            let author = message.author.to_ascii_lowercase();
            if members.contains_key(&author) || self.user(&author)?.is_none() {
                continue;
            }
            members.insert(
                author,
                MemberRecord {
                    role: Role::Member,
                    joined_at_ms: message.sent_at_ms,
                },
            );
        }
        // A room whose creator is gone still gets an owner: its earliest author.
        if !members.values().any(|m| m.role == Role::Owner) {
            if let Some(first) = members
                .values_mut()
                .min_by_key(|member| member.joined_at_ms)
            {
                first.role = Role::Owner;
            }
        }
        Ok(members)
    }

    fn put_member_unchecked(
        &self,
        room: RoomId,
        username: &str,
        member: &MemberRecord,
    ) -> StoreResult<()> {
        self.room_members.insert(
            keys::room_member(room, username),
            super::records::encode(member),
        )?;
        self.user_rooms
            .insert(keys::user_room(username, room), &[])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageRecord;

    /// A database of schema 2 (messages without ordinals) is numbered when it is opened.
    #[test]
    fn schema_2_messages_are_numbered_per_room_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (RoomId::generate(1), RoomId::generate(2));
        {
            let store = Store::open(dir.path(), 16).expect("open");
            for (room, seqs) in [(a, [1u64, 2, 5]), (b, [1, 3, 4])] {
                for seq in seqs {
                    let message = MessageRecord::new("ann".into(), "hi".into(), seq, None);
                    store.insert_message(room, seq, &message).expect("insert");
                }
            }
            store
                .meta
                .insert(keys::SCHEMA, &keys::seq_value(2))
                .expect("schema");
            store.db.flush().expect("flush");
        }
        let store = Store::open(dir.path(), 16).expect("reopen");
        for (room, seqs) in [(a, [1u64, 2, 5]), (b, [1, 3, 4])] {
            for (n, seq) in seqs.into_iter().enumerate() {
                let message = store.message(room, seq).expect("read").expect("present");
                assert_eq!(message.ordinal, Some(n as u64 + 1), "{room} {seq}");
            }
        }
        assert_eq!(
            store.number_messages().expect("again"),
            0,
            "nothing left to number"
        );
    }

    /// A database of schema 3 (mention entries without counts, one shared entry per `@room`)
    /// gets counted entries, totals and marker counts when it is opened.
    #[test]
    fn schema_3_mentions_are_counted_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let room = RoomId::generate(1);
        {
            let store = Store::open(dir.path(), 16).expect("open");
            for name in ["ann", "bob"] {
                let member = MemberRecord {
                    role: Role::Member,
                    joined_at_ms: 1,
                };
                store
                    .put_member_unchecked(room, name, &member)
                    .expect("member");
            }
            // Only the room's key matters here.
            store
                .rooms
                .insert(keys::room(room), &b"{}"[..])
                .expect("room");
            for (seq, mentions) in [(1u64, vec!["bob"]), (2, vec!["room"]), (3, vec![])] {
                let mut message = MessageRecord::new("ann".into(), "hi".into(), seq, None);
                message.ordinal = Some(seq);
                message.mentions = mentions.into_iter().map(String::from).collect();
                store.insert_message(room, seq, &message).expect("insert");
            }
            // What schema 3 kept: bare entries, `@room` once with its author.
            store.mention_index.clear().expect("clear");
            store.mention_totals.clear().expect("clear");
            let mut everyone = room.to_bytes().to_vec();
            everyone.push(0);
            everyone.extend_from_slice(&2u64.to_be_bytes());
            store
                .mention_index
                .insert(everyone, &b"ann"[..])
                .expect("old @room");
            let marker = br#"{"message":1,"ordinal":1}"#;
            store
                .read_markers
                .insert(keys::room_member(room, "bob"), &marker[..])
                .expect("old marker");
            store
                .meta
                .insert(keys::SCHEMA, &keys::seq_value(3))
                .expect("schema");
            store.db.flush().expect("flush");
        }
        let store = Store::open(dir.path(), 16).expect("reopen");
        let marker = store.read_marker(room, "bob").expect("marker");
        assert_eq!(marker.and_then(|m| m.mentions), Some(1));
        assert_eq!(
            store
                .mention_count(room, "bob", marker.as_ref())
                .expect("count"),
            1
        );
        assert_eq!(store.mention_count(room, "bob", None).expect("count"), 2);
        assert_eq!(store.mention_count(room, "ann", None).expect("count"), 0);
        assert_eq!(
            store.mention_index.len(),
            2,
            "bob's two mentions, nothing else"
        );
    }
}
