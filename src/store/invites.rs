//! Invite links into private rooms, stored under the SHA-256 of their code, with a per-room
//! index for listing and for deleting them with their room.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::records::{decode, encode};
use super::{keys, InviteRecord, Store, StoreError, StoreResult, TOKEN_HASH_LEN};
use crate::ids::RoomId;

/// How an attempt to use an invite ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseInvite {
    /// Counted; here is the invite after the use.
    Used(InviteRecord),
    NotFound,
    Expired,
    UsedUp,
}

impl Store {
    pub fn insert_invite(
        &self,
        room: RoomId,
        code_hash: &[u8; TOKEN_HASH_LEN],
        invite: &InviteRecord,
    ) -> StoreResult<()> {
        let value = encode(invite);
        let index = keys::room_invite(room, code_hash);
        (&self.invites, &self.room_invites)
            .transaction(
                |(invites, by_room): &(TransactionalTree, TransactionalTree)| {
                    invites.insert(&code_hash[..], value.as_slice())?;
                    by_room.insert(&index[..], &[])?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                },
            )
            .map_err(StoreError::from)
    }

    pub fn invite(&self, code_hash: &[u8; TOKEN_HASH_LEN]) -> StoreResult<Option<InviteRecord>> {
        self.invites
            .get(code_hash)?
            .map(|v| decode(&v, "invite"))
            .transpose()
    }

    /// Every invite of `room` with its code hash, oldest first.
    pub fn room_invites(
        &self,
        room: RoomId,
    ) -> StoreResult<Vec<([u8; TOKEN_HASH_LEN], InviteRecord)>> {
        let mut invites = Vec::new();
        for key in self.room_invites.scan_prefix(keys::room(room)).keys() {
            let hash = keys::parse_room_invite(&key?)?;
            if let Some(invite) = self.invite(&hash)? {
                invites.push((hash, invite));
            }
        }
        invites.sort_by_key(|(_, invite)| invite.created_at_ms);
        Ok(invites)
    }

    /// Counts one use of an invite, atomically, unless it expired (at `now_ms`) or is used up:
    /// two people accepting the last use at once cannot both get in.
    pub fn use_invite(
        &self,
        code_hash: &[u8; TOKEN_HASH_LEN],
        now_ms: u64,
    ) -> StoreResult<UseInvite> {
        let result = self.invites.transaction(|invites| {
            let Some(bytes) = invites.get(&code_hash[..])? else {
                return Ok(UseInvite::NotFound);
            };
            let mut invite: InviteRecord =
                decode(&bytes, "invite").map_err(ConflictableTransactionError::Abort)?;
            if invite.expires_at_ms <= now_ms {
                return Ok(UseInvite::Expired);
            }
            if invite.max_uses.is_some_and(|max| invite.uses >= max) {
                return Ok(UseInvite::UsedUp);
            }
            invite.uses = invite.uses.saturating_add(1);
            invites.insert(&code_hash[..], encode(&invite))?;
            Ok(UseInvite::Used(invite))
        });
        result.map_err(StoreError::from)
    }

    /// Deletes one invite; false if it was not there.
    pub fn delete_invite(
        &self,
        room: RoomId,
        code_hash: &[u8; TOKEN_HASH_LEN],
    ) -> StoreResult<bool> {
        self.room_invites
            .remove(keys::room_invite(room, code_hash))?;
        Ok(self.invites.remove(code_hash)?.is_some())
    }
}

/// Removes every invite of a room being deleted.
pub(super) fn delete_room_invites(store: &Store, room: RoomId) -> StoreResult<()> {
    for key in store.room_invites.scan_prefix(keys::room(room)).keys() {
        let key = key?;
        let hash = keys::parse_room_invite(&key)?;
        store.invites.remove(hash)?;
        store.room_invites.remove(key)?;
    }
    Ok(())
}
