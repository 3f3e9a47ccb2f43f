//! Rooms, their unique names and their expiry index.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::records::{decode, encode};
use super::{keys, RoomRecord, Store, StoreError, StoreResult};
use crate::ids::RoomId;

/// How a room insert ended.
pub enum InsertRoom {
    Inserted,
    /// A live room (not yet expired at `now_ms`) already has this name.
    NameTaken,
}

impl Store {
    /// Inserts `room` unless a live room has the same name (case-insensitively). The name index
    /// may still point at an expired room the sweeper has not reached; such a name is free.
    pub fn insert_room(
        &self,
        id: RoomId,
        room: &RoomRecord,
        now_ms: u64,
    ) -> StoreResult<InsertRoom> {
        let name_key = keys::room_name(&room.name);
        let room_key = keys::room(id);
        let expiry_key = keys::room_expiry(room.expires_at_ms, id);
        let value = encode(room);
        let result = (&self.rooms, &self.room_names, &self.room_expiry).transaction(
            |(rooms, names, expiry): &(TransactionalTree, TransactionalTree, TransactionalTree)| {
                if let Some(existing_id) = names.get(&name_key)? {
                    if let Some(existing) = rooms.get(&existing_id)? {
                        let existing: RoomRecord = decode(&existing, "room")
                            .map_err(ConflictableTransactionError::Abort)?;
                        if existing.expires_at_ms > now_ms {
                            return Ok(InsertRoom::NameTaken);
                        }
                    }
                }
                rooms.insert(&room_key, value.as_slice())?;
                names.insert(name_key.as_slice(), &room_key)?;
                expiry.insert(&expiry_key, &[])?;
                Ok(InsertRoom::Inserted)
            },
        );
        result.map_err(StoreError::from)
    }

    pub fn room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>> {
        self.rooms
            .get(keys::room(id))?
            .map(|v| decode(&v, "room"))
            .transpose()
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

    pub fn room_count(&self) -> usize {
        self.rooms.len()
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
        }
        delete_prefix(&self.messages, &room_key)?;
        delete_prefix(&self.nonces, &room_key)?;
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
        Ok(true)
    }

    /// Drops an expiry index entry whose room no longer exists, so a sweep never loops on it.
    pub fn remove_expiry_entry(&self, expires_at_ms: u64, id: RoomId) -> StoreResult<()> {
        self.room_expiry
            .remove(keys::room_expiry(expires_at_ms, id))?;
        Ok(())
    }
}

/// Removes every key under `prefix`, one at a time: the room is already invisible, so this
/// needs no atomicity, and a sled batch would hold sled's global write lock (stalling every
/// send) for as long as it takes to apply.
fn delete_prefix(tree: &sled::Tree, prefix: &[u8]) -> StoreResult<()> {
    for key in tree.scan_prefix(prefix).keys() {
        tree.remove(key?)?;
    }
    Ok(())
}
