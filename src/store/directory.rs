//! An in-memory copy of the room records read so far, of each room's newest message (its
//! number and time), and of the member names of the rooms asked about, so that listing a
//! thousand rooms decodes no room record and scans no message tree, and telling a busy room's
//! members of each new message scans no membership tree.
//!
//! Coherence rests on one rule: every fill from sled and every refresh after a write reads sled
//! while holding the map's write lock. A write commits to sled first and then refreshes, so the
//! last refresh to take the lock reads the last committed state; a fill that read an older state
//! is always followed by the refresh of the write that changed it.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::records::decode;
use super::{keys, RoomRecord, Store, StoreResult};
use crate::ids::RoomId;

#[derive(Default)]
pub(super) struct RoomDirectory {
    records: RwLock<HashMap<RoomId, RoomRecord>>,
    /// Each room's newest message (`None`: the room has none), once read.
    newest_message: RwLock<HashMap<RoomId, Option<Newest>>>,
    /// Each room's member names in username order, once asked (rooms with members only).
    member_names: RwLock<HashMap<RoomId, Arc<[String]>>>,
}

/// A room's newest message: its number and sent time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Newest {
    seq: u64,
    sent_at_ms: u64,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    pub fn room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>> {
        if let Some(record) = read(&self.directory.records).get(&id) {
            return Ok(Some(record.clone()));
        }
        let mut records = write(&self.directory.records);
        if let Some(record) = records.get(&id) {
            return Ok(Some(record.clone()));
        }
        let stored = self.stored_room(id)?;
        if let Some(record) = &stored {
            records.insert(id, record.clone());
        }
        Ok(stored)
    }

    /// Sent time of the newest message in `room`, `None` if it has none.
    pub fn newest_message_at(&self, room: RoomId) -> StoreResult<Option<u64>> {
        Ok(self.newest(room)?.map(|newest| newest.sent_at_ms))
    }

    /// The newest message of `room` with its number: one point read once the room is known.
    pub fn newest_message(&self, room: RoomId) -> StoreResult<Option<(u64, super::MessageRecord)>> {
        let Some(newest) = self.newest(room)? else {
            return Ok(None);
        };
        match self.message(room, newest.seq)? {
            Some(record) => Ok(Some((newest.seq, record))),
            // Taken back between the two reads: ask the tree.
            None => self.last_message(room),
        }
    }

    fn newest(&self, room: RoomId) -> StoreResult<Option<Newest>> {
        if let Some(&newest) = read(&self.directory.newest_message).get(&room) {
            return Ok(newest);
        }
        let mut known = write(&self.directory.newest_message);
        if let Some(&newest) = known.get(&room) {
            return Ok(newest);
        }
        let newest = self.last_message(room)?.map(|(seq, m)| Newest {
            seq,
            sent_at_ms: m.sent_at_ms,
        });
        known.insert(room, newest);
        Ok(newest)
    }

    /// The names of `room`'s members, in username order (empty for a room without members or
    /// none at all): a scan of the membership tree the first time, memory after that.
    pub fn member_names(&self, room: RoomId) -> StoreResult<Arc<[String]>> {
        if let Some(names) = read(&self.directory.member_names).get(&room) {
            return Ok(names.clone());
        }
        let mut known = write(&self.directory.member_names);
        if let Some(names) = known.get(&room) {
            return Ok(names.clone());
        }
        let names: Arc<[String]> = self.stored_member_names(room)?.into();
        // An unknown or emptied room is not kept: ids asked about must not grow the map.
        if !names.is_empty() {
            known.insert(room, names.clone());
        }
        Ok(names)
    }

    /// After a write to a room record or its members (or their removal): the directory takes
    /// the stored state. Every membership write goes through here, which is what keeps
    /// `member_names` true.
    pub(super) fn refresh_room(&self, id: RoomId) -> StoreResult<()> {
        write(&self.directory.member_names).remove(&id);
        let mut records = write(&self.directory.records);
        match self.stored_room(id)? {
            Some(record) => records.insert(id, record),
            None => {
                write(&self.directory.newest_message).remove(&id);
                records.remove(&id)
            }
        };
        Ok(())
    }

    /// After messages were committed (`(room, seq, sent time)`): rooms whose newest message is
    /// known move forward. A changed message keeps its number, so it never moves one back.
    pub(super) fn note_messages(&self, sent: impl Iterator<Item = (RoomId, u64, u64)>) {
        let mut known = write(&self.directory.newest_message);
        if known.is_empty() {
            return;
        }
        for (room, seq, sent_at_ms) in sent {
            if let Some(newest) = known.get_mut(&room) {
                *newest = (*newest).max(Some(Newest { seq, sent_at_ms }));
            }
        }
    }

    /// After a message was taken back: the room's newest time is read again when next asked.
    pub(super) fn forget_newest_message(&self, room: RoomId) {
        write(&self.directory.newest_message).remove(&room);
    }

    /// After bulk writes that bypass the typed writes (restore, clearing, migration).
    pub(super) fn forget_directory(&self) {
        write(&self.directory.records).clear();
        write(&self.directory.newest_message).clear();
        write(&self.directory.member_names).clear();
    }

    /// The member names of `room` as stored (no copy kept): for the fill above, and for
    /// rebuilds that walk every room once.
    pub(super) fn stored_member_names(&self, room: RoomId) -> StoreResult<Vec<String>> {
        self.room_members
            .scan_prefix(keys::room(room))
            .keys()
            .map(|key| Ok(keys::parse_room_member(&key?)?.1))
            .collect()
    }

    fn stored_room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>> {
        self.rooms
            .get(keys::room(id))?
            .map(|v| decode(&v, "room"))
            .transpose()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{MemberRecord, MessageRecord, Role, RoomKind};

    fn record(name: &str) -> RoomRecord {
        RoomRecord {
            id: String::new(),
            name: name.into(),
            created_by: "ann".into(),
            created_at_ms: 1,
            expires_at_ms: u64::MAX,
            kind: RoomKind::Public,
            topic: String::new(),
            member_count: 0,
            encrypted: false,
            key_version: 0,
        }
    }

    fn owner() -> (String, MemberRecord) {
        let member = MemberRecord {
            role: Role::Owner,
            joined_at_ms: 1,
        };
        ("ann".into(), member)
    }

    #[test]
    fn reads_see_every_write_after_the_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let id = RoomId::generate(1);
        assert_eq!(store.room(id).unwrap(), None);
        store.insert_room(id, &record("a"), &[owner()], 1).unwrap();
        assert_eq!(store.room(id).unwrap().unwrap().member_count, 1);
        let joined = MemberRecord {
            role: Role::Member,
            joined_at_ms: 2,
        };
        store.put_member(id, "bob", &joined).unwrap();
        assert_eq!(store.room(id).unwrap().unwrap().member_count, 2);
        let mut renamed = store.room(id).unwrap().unwrap();
        renamed.topic = "plans".into();
        store.update_room(id, &renamed, 2).unwrap();
        assert_eq!(store.room(id).unwrap().unwrap().topic, "plans");
        store.remove_member(id, "bob", None).unwrap();
        assert_eq!(store.room(id).unwrap().unwrap().member_count, 1);
        store.delete_room(id).unwrap();
        assert_eq!(store.room(id).unwrap(), None);
    }

    #[test]
    fn member_names_follow_every_membership_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let id = RoomId::generate(1);
        let names = |store: &Store| store.member_names(id).unwrap().to_vec();
        assert!(names(&store).is_empty(), "no room, no names");
        store.insert_room(id, &record("a"), &[owner()], 1).unwrap();
        assert_eq!(names(&store), ["ann"]);
        let joined = MemberRecord {
            role: Role::Member,
            joined_at_ms: 2,
        };
        store.put_member(id, "cid", &joined).unwrap();
        store.put_member(id, "bob", &joined).unwrap();
        assert_eq!(names(&store), ["ann", "bob", "cid"], "username order");
        store.remove_member(id, "ann", Some("bob")).unwrap();
        assert_eq!(names(&store), ["bob", "cid"]);
        store.delete_room(id).unwrap();
        assert!(names(&store).is_empty(), "a deleted room has none");
    }

    #[test]
    fn newest_message_time_follows_appends_and_takebacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let id = RoomId::generate(1);
        store.insert_room(id, &record("a"), &[owner()], 1).unwrap();
        assert_eq!(store.newest_message_at(id).unwrap(), None);
        let message = |at| MessageRecord::new("ann".into(), "hi".into(), at, None);
        store.insert_message(id, 1, &message(10)).unwrap();
        assert_eq!(store.newest_message_at(id).unwrap(), Some(10));
        store.insert_message(id, 2, &message(20)).unwrap();
        assert_eq!(store.newest_message_at(id).unwrap(), Some(20));
        store.remove_message(id, 2, "ann", None).unwrap();
        assert_eq!(store.newest_message_at(id).unwrap(), Some(10));
    }
}
