//! Keys of end-to-end encrypted rooms: each user's identity key and each member's wrapped
//! copies of each room key version. The server keeps them for the browsers and never uses them.

use super::records::{decode, encode};
use super::{keys, IdentityKeyRecord, RoomKeyRecord, Store, StoreResult};
use crate::ids::RoomId;

impl Store {
    pub fn identity_key(&self, username: &str) -> StoreResult<Option<IdentityKeyRecord>> {
        self.identity_keys
            .get(keys::user(username))?
            .map(|value| decode(&value, "identity key"))
            .transpose()
    }

    /// Stores `username`'s identity key. A different public key than before (a reset) makes
    /// every room key wrapped for the old one useless: those are deleted first, so a crash in
    /// between leaves the old key with fewer room keys, never the new key with stale ones.
    /// Returns whether the public key changed (or is new).
    pub fn put_identity_key(
        &self,
        username: &str,
        record: &IdentityKeyRecord,
    ) -> StoreResult<bool> {
        let previous = self.identity_key(username)?;
        let changed = previous.as_ref().map(|p| &p.public_key) != Some(&record.public_key);
        if changed && previous.is_some() {
            for room in self.rooms_of(username)? {
                self.delete_room_keys_of(room, username)?;
            }
        }
        self.identity_keys
            .insert(keys::user(username), encode(record))?;
        Ok(changed)
    }

    pub fn delete_identity_key(&self, username: &str) -> StoreResult<()> {
        self.identity_keys.remove(keys::user(username))?;
        Ok(())
    }

    /// The room keys `username` holds in `room`, oldest version first.
    pub fn room_keys_of(
        &self,
        room: RoomId,
        username: &str,
    ) -> StoreResult<Vec<(u32, RoomKeyRecord)>> {
        self.room_keys
            .scan_prefix(keys::room_keys_prefix(room, username))
            .map(|entry| {
                let (key, value) = entry?;
                let (_, version) = keys::parse_room_key(&key)?;
                Ok((version, decode(&value, "room key")?))
            })
            .collect()
    }

    pub fn holds_room_key(&self, room: RoomId, username: &str, version: u32) -> StoreResult<bool> {
        Ok(self
            .room_keys
            .contains_key(keys::room_key(room, username, version))?)
    }

    /// Stores wrapped keys of one version for members, all or none.
    pub fn put_room_keys(
        &self,
        room: RoomId,
        version: u32,
        wrapped: &[(String, RoomKeyRecord)],
    ) -> StoreResult<()> {
        let mut batch = sled::Batch::default();
        for (username, record) in wrapped {
            batch.insert(keys::room_key(room, username, version), encode(record));
        }
        self.room_keys.apply_batch(batch)?;
        Ok(())
    }

    /// Forgets every room key `username` holds in `room` (they left, or reset their key).
    pub fn delete_room_keys_of(&self, room: RoomId, username: &str) -> StoreResult<()> {
        super::rooms::delete_prefix(&self.room_keys, &keys::room_keys_prefix(room, username))
    }

    pub(super) fn delete_room_keys(&self, room: RoomId) -> StoreResult<()> {
        super::rooms::delete_prefix(&self.room_keys, &keys::room(room))
    }
}
