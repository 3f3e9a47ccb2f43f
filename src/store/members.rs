//! Who belongs to which room: the `room_members` entries, their mirror in `user_rooms` (a user's
//! rooms without a scan of every room), the member count on the room record, and the indexes
//! of public and direct rooms. Every write here keeps all of them in step in one transaction.
//!
//! The rules (who may add whom, who becomes owner) are the chat domain's; the domain serializes
//! membership changes, so these writes never race each other.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::records::{decode, encode};
use super::{keys, MemberRecord, Role, RoomRecord, Store, StoreError, StoreResult};
use crate::ids::RoomId;

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// What `remove_member` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedMember {
    /// Not a member (or no such room): nothing changed.
    NotMember,
    /// Removed; the room now has this many members.
    Removed { remaining: u64 },
}

/// How a room update ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateRoom {
    Updated,
    /// Another live public room holds the new name.
    NameTaken,
    /// The room does not exist, or its deletion has begun.
    Gone,
}

impl Store {
    /// The membership of `username` in `room`, if any.
    pub fn member(&self, room: RoomId, username: &str) -> StoreResult<Option<MemberRecord>> {
        Ok(self.room_member_list(room)?.get(username).cloned())
    }

    /// Every member of `room`, in key (username) order, as stored (no copy kept: for the
    /// directory's fill, and for callers that walk every room once).
    pub fn members(&self, room: RoomId) -> StoreResult<Vec<(String, MemberRecord)>> {
        self.room_members
            .scan_prefix(keys::room(room))
            .map(|entry| {
                let (key, value) = entry?;
                let (_, username) = keys::parse_room_member(&key)?;
                Ok((username, decode(&value, "member")?))
            })
            .collect()
    }

    /// Every room `username` is a member of (expired ones included; callers check).
    pub fn rooms_of(&self, username: &str) -> StoreResult<Vec<RoomId>> {
        self.user_rooms
            .scan_prefix(keys::user_rooms_prefix(username))
            .keys()
            .map(|key| keys::parse_user_room(&key?))
            .collect()
    }

    /// Every public room (expired ones included; callers check).
    pub fn public_room_ids(&self) -> StoreResult<Vec<RoomId>> {
        self.public_rooms
            .iter()
            .keys()
            .map(|key| keys::parse_room_id(&key?))
            .collect()
    }

    /// The direct room (plain or encrypted) last created for exactly these people, if its
    /// record still exists.
    pub fn direct_room(
        &self,
        usernames: &[String],
        encrypted: bool,
    ) -> StoreResult<Option<RoomId>> {
        match self
            .direct_rooms
            .get(keys::direct_members(usernames, encrypted))?
        {
            Some(id) => Ok(Some(keys::parse_room_id(&id)?)),
            None => Ok(None),
        }
    }

    /// Adds (or, for an existing member, re-roles) `username` in `room`. Returns the room
    /// record as written, or None when the room does not exist or is being deleted.
    pub fn put_member(
        &self,
        room: RoomId,
        username: &str,
        member: &MemberRecord,
    ) -> StoreResult<Option<RoomRecord>> {
        let room_key = keys::room(room);
        let member_key = keys::room_member(room, username);
        let user_room_key = keys::user_room(username, room);
        let value = encode(member);
        let result = (&self.rooms, &self.room_members, &self.user_rooms).transaction(
            |(rooms, members, user_rooms): &(
                TransactionalTree,
                TransactionalTree,
                TransactionalTree,
            )| {
                let Some(mut record) = live_record(rooms, &room_key)? else {
                    return Ok(None);
                };
                if members
                    .insert(member_key.as_slice(), value.as_slice())?
                    .is_none()
                {
                    record.member_count += 1;
                    rooms.insert(&room_key, encode(&record))?;
                }
                user_rooms.insert(user_room_key.as_slice(), &[])?;
                Ok(Some(record))
            },
        );
        let written = result.map_err(StoreError::from)?;
        self.refresh_room(room)?;
        Ok(written)
    }

    /// Ends the membership of `username` in `room`, and hands the owner role to `promote` (a
    /// remaining member) in the same transaction; an encrypted room moves to its next key
    /// version in it too, and the room keys the member held are forgotten.
    pub fn remove_member(
        &self,
        room: RoomId,
        username: &str,
        promote: Option<&str>,
    ) -> StoreResult<RemovedMember> {
        let room_key = keys::room(room);
        let member_key = keys::room_member(room, username);
        let user_room_key = keys::user_room(username, room);
        let promote_key = promote.map(|name| keys::room_member(room, name));
        let result = (&self.rooms, &self.room_members, &self.user_rooms).transaction(
            |(rooms, members, user_rooms): &(
                TransactionalTree,
                TransactionalTree,
                TransactionalTree,
            )| {
                user_rooms.remove(user_room_key.as_slice())?;
                if members.remove(member_key.as_slice())?.is_none() {
                    return Ok(RemovedMember::NotMember);
                }
                if let Some(promote_key) = &promote_key {
                    if let Some(existing) = members.get(promote_key.as_slice())? {
                        let mut heir: MemberRecord = decode(&existing, "member")
                            .map_err(ConflictableTransactionError::Abort)?;
                        heir.role = Role::Owner;
                        members.insert(promote_key.as_slice(), encode(&heir))?;
                    }
                }
                let Some(mut record) = live_record(rooms, &room_key)? else {
                    return Ok(RemovedMember::Removed { remaining: 0 });
                };
                record.member_count = record.member_count.saturating_sub(1);
                if record.encrypted {
                    // What is sent from now on must be unreadable to whoever left.
                    record.key_version = record.key_version.saturating_add(1);
                }
                rooms.insert(&room_key, encode(&record))?;
                Ok(RemovedMember::Removed {
                    remaining: record.member_count,
                })
            },
        );
        let removed = result.map_err(StoreError::from)?;
        self.delete_room_keys_of(room, username)?;
        self.refresh_room(room)?;
        Ok(removed)
    }

    /// Rewrites a room's name and topic from `updated`, keeping the name index of public rooms in
    /// step. False when the room is gone or its deletion has begun, or when another live public
    /// room (at `now_ms`) holds the new name.
    pub fn update_room(
        &self,
        room: RoomId,
        updated: &RoomRecord,
        now_ms: u64,
    ) -> StoreResult<UpdateRoom> {
        let room_key = keys::room(room);
        let new_name = keys::room_name(&updated.name);
        let result = (&self.rooms, &self.room_names).transaction(
            |(rooms, names): &(TransactionalTree, TransactionalTree)| {
                let Some(current) = live_record(rooms, &room_key)? else {
                    return Ok(UpdateRoom::Gone);
                };
                let mut next = updated.clone();
                // Only the caller's name and topic change: counts and expiry stay as stored.
                next.member_count = current.member_count;
                next.expires_at_ms = current.expires_at_ms;
                if current.kind == super::RoomKind::Public
                    && keys::room_name(&current.name) != new_name
                {
                    if let Some(holder) = names.get(&new_name)? {
                        if holder.as_ref() != room_key.as_slice() {
                            if let Some(other) = rooms.get(&holder)? {
                                let other: RoomRecord = decode(&other, "room")
                                    .map_err(ConflictableTransactionError::Abort)?;
                                if other.expires_at_ms > now_ms {
                                    return Ok(UpdateRoom::NameTaken);
                                }
                            }
                        }
                    }
                    let old_name = keys::room_name(&current.name);
                    if names.get(&old_name)?.as_deref() == Some(room_key.as_slice()) {
                        names.remove(old_name.as_slice())?;
                    }
                    names.insert(new_name.as_slice(), &room_key)?;
                }
                rooms.insert(&room_key, encode(&next))?;
                Ok(UpdateRoom::Updated)
            },
        );
        let updated = result.map_err(StoreError::from)?;
        self.refresh_room(room)?;
        Ok(updated)
    }
}

/// The room record under `key`, unless it is missing or its deletion has begun (expiry 0).
fn live_record(rooms: &TransactionalTree, key: &[u8]) -> TxResult<Option<RoomRecord>> {
    let Some(bytes) = rooms.get(key)? else {
        return Ok(None);
    };
    let record: RoomRecord = decode(&bytes, "room").map_err(ConflictableTransactionError::Abort)?;
    Ok((record.expires_at_ms > 0).then_some(record))
}

/// Removes every membership of a room being deleted, with each member's `user_rooms` entry.
pub(super) fn delete_memberships(store: &Store, room: RoomId) -> StoreResult<()> {
    for key in store.room_members.scan_prefix(keys::room(room)).keys() {
        let key = key?;
        let (_, username) = keys::parse_room_member(&key)?;
        store.user_rooms.remove(keys::user_room(&username, room))?;
        store.room_members.remove(key)?;
    }
    Ok(())
}
