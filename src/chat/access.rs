//! Who may see, read and manage a room. Every route and WebSocket frame that names a room goes
//! through one of these checks; a private or direct room a user may not see answers exactly as a
//! room that does not exist (`NotFound`), so its existence does not leak.

use super::model::{Room, RoomInfo, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{MemberRecord, Role, RoomKind};

/// A live room and the user's membership of it, if any.
pub(super) struct Standing {
    pub room: Room,
    pub member: Option<MemberRecord>,
}

impl Standing {
    pub fn is_owner(&self) -> bool {
        self.member.as_ref().is_some_and(|m| m.role == Role::Owner)
    }
}

impl Chat {
    /// The room if `user` may see its metadata: any public room; a private or direct room only
    /// for its members and for server admins (who manage rooms but never read them).
    pub(super) fn visible(&self, id: RoomId, user: &User) -> Result<Standing> {
        let room = self.room(id)?;
        let member = self.store.member(id, &user.username)?;
        if member.is_none() && !room.is_public() && !user.is_admin {
            return Err(Error::NotFound("room"));
        }
        Ok(Standing { room, member })
    }

    /// The room if `user` may read its messages: any public room, other rooms only for members.
    pub(super) fn readable(&self, id: RoomId, user: &User) -> Result<Standing> {
        let room = self.room(id)?;
        let member = self.store.member(id, &user.username)?;
        if member.is_none() && !room.is_public() {
            return Err(Error::NotFound("room"));
        }
        Ok(Standing { room, member })
    }

    /// The room if `user` is a member of it; a visible room they are not in is `NotMember`.
    pub(super) fn membership(&self, id: RoomId, user: &User) -> Result<Standing> {
        let standing = self.readable(id, user)?;
        if standing.member.is_none() {
            return Err(Error::NotMember);
        }
        Ok(standing)
    }

    /// The room if `user` may manage it (rename, remove members, delete): its owners and admins.
    pub(super) fn managed(&self, id: RoomId, user: &User) -> Result<Standing> {
        let standing = self.visible(id, user)?;
        if !standing.is_owner() && !user.is_admin {
            return Err(Error::Forbidden(
                "only the room's owner or an admin can do this".into(),
            ));
        }
        Ok(standing)
    }

    /// The room, if `user` is a member of it (for features that belong to members, such as a
    /// room's webhooks): `NotMember` for a visible room they are not in, `NotFound` otherwise.
    pub fn member_room(&self, id: RoomId, user: &User) -> Result<Room> {
        Ok(self.membership(id, user)?.room)
    }

    /// Whether `user` manages the room (an owner, or an admin), for a room they can see.
    pub fn manages_room(&self, id: RoomId, user: &User) -> Result<bool> {
        let standing = self.visible(id, user)?;
        Ok(standing.is_owner() || user.is_admin)
    }

    /// The room as `viewer` sees it: their role, and the members of a direct room.
    pub(super) fn info(&self, room: Room, member: Option<&MemberRecord>) -> Result<RoomInfo> {
        let members = if room.kind == RoomKind::Direct {
            // In username order, as the membership tree keeps them.
            Some(
                self.store
                    .room_member_list(room.id)?
                    .names()
                    .map(str::to_owned)
                    .collect(),
            )
        } else {
            None
        };
        Ok(RoomInfo {
            room,
            role: member.map(|m| m.role),
            members,
            activity: None,
        })
    }
}
