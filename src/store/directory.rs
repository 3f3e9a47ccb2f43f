//! An in-memory copy of the room records read so far, of each room's newest message (its
//! number, time and record), and of the members of the rooms asked about, so that listing a
//! thousand rooms decodes no room or message record, and neither a membership check nor
//! telling a busy room's members of each new message scans the membership tree.
//!
//! Coherence rests on one rule: every fill from sled and every refresh after a write reads sled
//! while holding the map's write lock. A write commits to sled first and then refreshes, so the
//! last refresh to take the lock reads the last committed state; a fill that read an older state
//! is always followed by the refresh of the write that changed it.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::records::decode;
use super::{keys, MemberRecord, RoomRecord, Store, StoreResult};
use crate::ids::RoomId;

#[derive(Default)]
pub(super) struct RoomDirectory {
    records: RwLock<HashMap<RoomId, RoomRecord>>,
    /// Each room's newest message (`None`: the room has none), once read.
    newest_message: RwLock<HashMap<RoomId, Option<Newest>>>,
    /// The record of each room's newest message, once read, with its number; dropped when a
    /// commit writes that message or a newer one.
    newest_record: RwLock<HashMap<RoomId, (u64, Arc<super::MessageRecord>)>>,
    /// Each room's members, once asked (rooms with members only).
    members: RwLock<HashMap<RoomId, Arc<RoomMembers>>>,
}

/// A room's members as stored, in username (key) order.
#[derive(Debug, Default)]
pub struct RoomMembers(Vec<(String, MemberRecord)>);

impl RoomMembers {
    /// Their usernames (lowercase), in order.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone + '_ {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// The membership of `username` (in any case), if any.
    pub fn get(&self, username: &str) -> Option<&MemberRecord> {
        let wanted = || username.bytes().map(|b| b.to_ascii_lowercase());
        self.0
            .binary_search_by(|(name, _)| name.bytes().cmp(wanted()))
            .ok()
            .map(|at| &self.0[at].1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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

    /// The newest message of `room` with its number: from memory once read, until a commit
    /// writes it again (an edit, a reaction, a deletion) or writes a newer one.
    pub fn newest_message(&self, room: RoomId) -> StoreResult<Option<(u64, super::MessageRecord)>> {
        let Some(newest) = self.newest(room)? else {
            return Ok(None);
        };
        let cached = |known: &HashMap<RoomId, (u64, Arc<super::MessageRecord>)>| {
            known
                .get(&room)
                .filter(|(seq, _)| *seq == newest.seq)
                .map(|(seq, record)| (*seq, super::MessageRecord::clone(record)))
        };
        if let Some(found) = cached(&read(&self.directory.newest_record)) {
            return Ok(Some(found));
        }
        let mut known = write(&self.directory.newest_record);
        if let Some(found) = cached(&known) {
            return Ok(Some(found));
        }
        match self.message(room, newest.seq)? {
            Some(record) => {
                known.insert(room, (newest.seq, Arc::new(record.clone())));
                Ok(Some((newest.seq, record)))
            }
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

    /// `room`'s members (none for a room without members or no room at all): a scan of the
    /// membership tree the first time, memory after that.
    pub fn room_member_list(&self, room: RoomId) -> StoreResult<Arc<RoomMembers>> {
        if let Some(members) = read(&self.directory.members).get(&room) {
            return Ok(members.clone());
        }
        let mut known = write(&self.directory.members);
        if let Some(members) = known.get(&room) {
            return Ok(members.clone());
        }
        let members = Arc::new(RoomMembers(self.members(room)?));
        // An unknown or emptied room is not kept: ids asked about must not grow the map.
        if !members.is_empty() {
            known.insert(room, members.clone());
        }
        Ok(members)
    }

    /// After a write to a room record or its members (or their removal): the directory takes
    /// the stored state. Every membership write goes through here, which is what keeps
    /// `room_member_list` true.
    pub(super) fn refresh_room(&self, id: RoomId) -> StoreResult<()> {
        write(&self.directory.members).remove(&id);
        let mut records = write(&self.directory.records);
        match self.stored_room(id)? {
            Some(record) => records.insert(id, record),
            None => {
                write(&self.directory.newest_record).remove(&id);
                write(&self.directory.newest_message).remove(&id);
                records.remove(&id)
            }
        };
        Ok(())
    }

    /// After messages were committed (`(room, seq, sent time)`): rooms whose newest message is
    /// known move forward. A changed message keeps its number, so it never moves one back; its
    /// record, if it is the newest one kept, is read again when next asked.
    pub(super) fn note_messages(&self, sent: impl Iterator<Item = (RoomId, u64, u64)> + Clone) {
        {
            let mut records = write(&self.directory.newest_record);
            if !records.is_empty() {
                for (room, seq, _) in sent.clone() {
                    if records.get(&room).is_some_and(|(kept, _)| *kept <= seq) {
                        records.remove(&room);
                    }
                }
            }
        }
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
        write(&self.directory.newest_record).remove(&room);
        write(&self.directory.newest_message).remove(&room);
    }

    /// After bulk writes that bypass the typed writes (restore, clearing, migration).
    pub(super) fn forget_directory(&self) {
        write(&self.directory.records).clear();
        write(&self.directory.newest_message).clear();
        write(&self.directory.newest_record).clear();
        write(&self.directory.members).clear();
        self.forget_all_read_markers();
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
pub(super) mod tests {
    use super::*;
    use crate::store::{MemberRecord, MessageRecord, Role, RoomKind};

    /// A public room's record, for tests.
    pub(in crate::store) fn record(name: &str) -> RoomRecord {
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

    /// Its owner, `ann`.
    pub(in crate::store) fn owner() -> (String, MemberRecord) {
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
    fn room_members_follow_every_membership_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let id = RoomId::generate(1);
        let names = |store: &Store| {
            let members = store.room_member_list(id).unwrap();
            members.names().map(str::to_owned).collect::<Vec<_>>()
        };
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
        let members = store.room_member_list(id).unwrap();
        assert_eq!(
            members.get("BOB").map(|m| m.role),
            Some(Role::Owner),
            "any case"
        );
        assert_eq!(store.member(id, "Cid").unwrap(), Some(joined.clone()));
        assert_eq!(store.member(id, "ann").unwrap(), None);
        store.delete_room(id).unwrap();
        assert!(names(&store).is_empty(), "a deleted room has none");
    }

    #[test]
    fn the_newest_message_kept_in_memory_follows_rewrites_appends_and_takebacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let id = RoomId::generate(1);
        store.insert_room(id, &record("a"), &[owner()], 1).unwrap();
        let message = |body: &str, at| MessageRecord::new("ann".into(), body.into(), at, None);
        let newest_body = |store: &Store| {
            store
                .newest_message(id)
                .unwrap()
                .map(|(seq, record)| (seq, record.body))
        };
        assert_eq!(newest_body(&store), None);
        store.insert_message(id, 1, &message("first", 10)).unwrap();
        assert_eq!(newest_body(&store), Some((1, "first".into())));
        // An edit rewrites the same number: the kept copy must not outlive it.
        store
            .insert_message(id, 1, &message("first, edited", 10))
            .unwrap();
        assert_eq!(newest_body(&store), Some((1, "first, edited".into())));
        store.insert_message(id, 2, &message("second", 20)).unwrap();
        assert_eq!(newest_body(&store), Some((2, "second".into())));
        store.remove_message(id, 2, "ann", None).unwrap();
        assert_eq!(newest_body(&store), Some((1, "first, edited".into())));
        store.delete_room(id).unwrap();
        assert_eq!(newest_body(&store), None);
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
