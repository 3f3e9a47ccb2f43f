//! Rooms, their unique names, their expiry index, and their deletion with everything they own.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::records::{decode, encode};
use super::{keys, MemberRecord, RoomKind, RoomRecord, Store, StoreError, StoreResult};
use crate::ids::RoomId;

/// How a room insert ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertRoom {
    Inserted,
    /// A live public room (not yet expired at `now_ms`) already has this name.
    NameTaken,
    /// A live direct room of exactly these members exists already.
    DirectExists(RoomId),
}

type Trees7 = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

impl Store {
    /// Inserts `room` with its first `members`, all or nothing. A public room's name must be
    /// free among live public rooms (case-insensitively); a direct room must be the only live
    /// one of its set of members. Indexes may still point at an expired room the sweeper has
    /// not reached; such a name or set is free. `member_count` is set from `members`.
    pub fn insert_room(
        &self,
        id: RoomId,
        room: &RoomRecord,
        members: &[(String, MemberRecord)],
        now_ms: u64,
    ) -> StoreResult<InsertRoom> {
        let name_key = keys::room_name(&room.name);
        let room_key = keys::room(id);
        let expiry_key = keys::room_expiry(room.expires_at_ms, id);
        let mut record = room.clone();
        record.member_count = members.len() as u64;
        let value = encode(&record);
        let usernames: Vec<String> = members.iter().map(|(name, _)| name.clone()).collect();
        let direct_key = keys::direct_members(&usernames, record.encrypted);
        let member_rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = members
            .iter()
            .map(|(name, member)| {
                (
                    keys::room_member(id, name),
                    keys::user_room(name, id),
                    encode(member),
                )
            })
            .collect();
        let trees = (
            &self.rooms,
            &self.room_names,
            &self.room_expiry,
            &self.room_members,
            &self.user_rooms,
            &self.public_rooms,
            &self.direct_rooms,
        );
        let result = trees.transaction(
            |(rooms, names, expiry, room_members, user_rooms, public, direct): &Trees7| {
                match record.kind {
                    RoomKind::Public => {
                        if let Some(existing_id) = names.get(&name_key)? {
                            if live_at(rooms, &existing_id, now_ms)? {
                                return Ok(InsertRoom::NameTaken);
                            }
                        }
                        names.insert(name_key.as_slice(), &room_key)?;
                        public.insert(&room_key, &[])?;
                    }
                    RoomKind::Direct => {
                        if let Some(existing_id) = direct.get(&direct_key)? {
                            if live_at(rooms, &existing_id, now_ms)? {
                                let existing = keys::parse_room_id(&existing_id)
                                    .map_err(ConflictableTransactionError::Abort)?;
                                return Ok(InsertRoom::DirectExists(existing));
                            }
                        }
                        direct.insert(direct_key.as_slice(), &room_key)?;
                    }
                    RoomKind::Private => {}
                }
                rooms.insert(&room_key, value.as_slice())?;
                expiry.insert(&expiry_key, &[])?;
                for (member_key, user_room_key, member) in &member_rows {
                    room_members.insert(member_key.as_slice(), member.as_slice())?;
                    user_rooms.insert(user_room_key.as_slice(), &[])?;
                }
                Ok(InsertRoom::Inserted)
            },
        );
        let inserted = result.map_err(StoreError::from)?;
        if inserted == InsertRoom::Inserted {
            self.refresh_room(id)?;
        }
        Ok(inserted)
    }

    /// Every stored room, expired or not, oldest first (ids are time-ordered ULIDs).
    pub fn rooms(&self) -> StoreResult<Vec<(RoomId, RoomRecord)>> {
        self.rooms
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((keys::parse_room_id(&key)?, decode(&value, "room")?))
            })
            .collect()
    }

    pub fn room_count(&self) -> StoreResult<usize> {
        super::count_entries(self.rooms.iter())
    }

    /// Up to `limit` (expiry time, room) pairs due at or before `now_ms`, soonest first.
    pub fn expired_rooms(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<(u64, RoomId)>> {
        let end = keys::room_expiry(now_ms, RoomId::from_bytes([0xFF; 16]));
        self.room_expiry
            .range(..=end.as_slice())
            .keys()
            .take(limit)
            .map(|key| keys::parse_room_expiry(&key?))
            .collect()
    }

    /// Deletes a room with all of its messages and nonces. Returns false if it did not exist.
    ///
    /// Messages go one by one, never as one huge batch in memory; the room record goes last, so
    /// an interrupted delete is finished by the next sweep.
    pub fn delete_room(&self, id: RoomId) -> StoreResult<bool> {
        let room_key = keys::room(id);
        let Some(record) = self.room(id)? else {
            return Ok(false);
        };
        // First make the room expired (atomically, with its expiry index entry): if we crash
        // half way, the room is invisible at once and the next sweep finishes the job.
        if record.expires_at_ms > 0 {
            let mut expired = record.clone();
            expired.expires_at_ms = 0;
            let old_expiry = keys::room_expiry(record.expires_at_ms, id);
            let new_expiry = keys::room_expiry(0, id);
            let value = encode(&expired);
            (&self.rooms, &self.room_expiry)
                .transaction(|(rooms, expiry): &(TransactionalTree, TransactionalTree)| {
                    rooms.insert(&room_key, value.as_slice())?;
                    expiry.remove(&old_expiry)?;
                    expiry.insert(&new_expiry, &[])?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                })
                .map_err(StoreError::from)?;
            self.refresh_room(id)?;
        }
        delete_prefix(&self.messages, &room_key)?;
        delete_prefix(&self.nonces, &room_key)?;
        delete_prefix(&self.changes, &room_key)?;
        super::invites::delete_room_invites(self, id)?;
        super::webhooks::delete_room_webhooks(self, id)?;
        delete_prefix(&self.read_markers, &room_key)?;
        self.forget_read_markers(id);
        delete_prefix(&self.notification_levels, &room_key)?;
        delete_prefix(&self.mention_index, &room_key)?;
        delete_prefix(&self.mention_totals, &room_key)?;
        self.remove_room_attachments(id)?;
        self.delete_room_keys(id)?;
        if record.kind == RoomKind::Direct {
            let usernames: Vec<String> = self
                .members(id)?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            let _ = self.direct_rooms.compare_and_swap(
                keys::direct_members(&usernames, record.encrypted),
                Some(&room_key[..]),
                None as Option<&[u8]>,
            )?;
        }
        super::members::delete_memberships(self, id)?;
        self.public_rooms.remove(room_key)?;
        let name_key = keys::room_name(&record.name);
        // Only drop the name entry if it still names this room (a newer room may own it now).
        let _ = self.room_names.compare_and_swap(
            &name_key,
            Some(&room_key[..]),
            None as Option<&[u8]>,
        )?;
        self.room_expiry.remove(keys::room_expiry(0, id))?;
        self.room_expiry
            .remove(keys::room_expiry(record.expires_at_ms, id))?;
        self.rooms.remove(room_key)?;
        self.refresh_room(id)?;
        Ok(true)
    }

    /// Drops an expiry index entry whose room no longer exists, so a sweep never loops on it.
    pub fn remove_expiry_entry(&self, expires_at_ms: u64, id: RoomId) -> StoreResult<()> {
        self.room_expiry
            .remove(keys::room_expiry(expires_at_ms, id))?;
        Ok(())
    }
}

/// Whether the room under `key` exists and has not expired at `now_ms`.
fn live_at(
    rooms: &TransactionalTree,
    key: &[u8],
    now_ms: u64,
) -> Result<bool, ConflictableTransactionError<StoreError>> {
    let Some(bytes) = rooms.get(key)? else {
        return Ok(false);
    };
    let record: RoomRecord = decode(&bytes, "room").map_err(ConflictableTransactionError::Abort)?;
    Ok(record.expires_at_ms > now_ms)
}

/// Removes every key under `prefix`, one at a time: the room is already invisible, so this
/// needs no atomicity, and a sled batch would hold sled's global write lock (stalling every
/// send) for as long as it takes to apply.
pub(super) fn delete_prefix(tree: &sled::Tree, prefix: &[u8]) -> StoreResult<()> {
    for key in tree.scan_prefix(prefix).keys() {
        tree.remove(key?)?;
    }
    Ok(())
}
