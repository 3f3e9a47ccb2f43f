//! Room membership: joining and leaving, adding and removing members, roles, and ownership that
//! passes on when an owner leaves.
//!
//! Membership changes are rare next to messages, so they take one lock (`membership_lock`) for
//! their read-decide-write: two owners leaving at once cannot both hand ownership to each other,
//! and the last member leaving deletes the room exactly once. Flushes happen after the lock is
//! released, so concurrent joins share them.

use super::access::Standing;
use super::events::EventKind;
use super::model::{Member, RoomInfo, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{MemberRecord, RemovedMember, Role, RoomKind};

/// The stored form of a username as typed by someone (`Alice ` → `alice`).
pub fn canonical_username(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

impl Chat {
    /// Makes `user` a member of a public room; for a room they are in already, just answers it.
    /// A private or direct room they are not in is `NotFound`.
    pub async fn join_room(&self, id: RoomId, user: &User) -> Result<RoomInfo> {
        let standing = self.readable(id, user)?;
        let member = match standing.member {
            Some(member) => member,
            None => self.admit(id, &user.username, Role::Member).await?,
        };
        let room = self.room(id)?;
        self.info(room, Some(&member))
    }

    /// Ends `user`'s membership. An owner's role passes to the longest-standing member; the last
    /// member leaving a private or direct room deletes it.
    pub async fn leave_room(&self, id: RoomId, user: &User) -> Result<()> {
        let guard = self.membership_lock.lock().await;
        let standing = self.membership(id, user)?;
        let delete_room = self.end_membership(&standing, &user.username)?;
        drop(guard);
        self.finish_removal(id, delete_room).await?;
        tracing::info!(room = %id, user = %user.username, "left room");
        Ok(())
    }

    /// Every member of a room `actor` may see, longest-standing first.
    pub fn members(&self, id: RoomId, actor: &User) -> Result<Vec<Member>> {
        self.visible(id, actor)?;
        self.members_of(id)
    }

    /// Every member of a live room, longest-standing first, for the admin console.
    pub fn members_of(&self, id: RoomId) -> Result<Vec<Member>> {
        self.room(id)?;
        let mut members: Vec<Member> = self
            .store
            .members(id)?
            .into_iter()
            .map(|(name, record)| Member::new(name, &record))
            .collect();
        members.sort_by(|a, b| {
            a.joined_at_ms
                .cmp(&b.joined_at_ms)
                .then_with(|| a.username.cmp(&b.username))
        });
        Ok(members)
    }

    /// Adds `target` to a room (any member may), or changes their role (owners and admins).
    /// Returns the membership and whether it is new.
    pub async fn put_member(
        &self,
        id: RoomId,
        target: &str,
        role: Option<Role>,
        actor: &User,
    ) -> Result<(Member, bool)> {
        let target = canonical_username(target);
        let guard = self.membership_lock.lock().await;
        let standing = self.visible(id, actor)?;
        if standing.room.kind == RoomKind::Direct {
            return Err(direct_room_fixed());
        }
        if standing.member.is_none() {
            return Err(Error::Forbidden(
                "only members of a room can add people to it".into(),
            ));
        }
        if self.store.user(&target)?.is_none() {
            return Err(user_not_found(&target));
        }
        let existing = self.store.member(id, &target)?;
        let may_set_roles = standing.is_owner() || actor.is_admin;
        let wanted = role.unwrap_or(existing.as_ref().map_or(Role::Member, |m| m.role));
        if let Some(unchanged) = existing.as_ref().filter(|m| m.role == wanted) {
            return Ok((Member::new(target, unchanged), false));
        }
        if !may_set_roles && (wanted == Role::Owner || existing.is_some()) {
            return Err(Error::Forbidden(
                "only the room's owner or an admin can change roles".into(),
            ));
        }
        if existing.as_ref().is_some_and(|m| m.role == Role::Owner) && self.owner_count(id)? <= 1 {
            return Err(last_owner());
        }
        let record = MemberRecord {
            role: wanted,
            joined_at_ms: existing
                .as_ref()
                .map_or_else(|| self.now_ms(), |m| m.joined_at_ms),
        };
        if self.store.put_member(id, &target, &record)?.is_none() {
            return Err(Error::NotFound("room"));
        }
        drop(guard);
        self.store.flush().await?;
        let added = existing.is_none();
        if added {
            let room = self.refresh(id)?;
            let info = self.info(room, Some(&record))?;
            self.announce_added(&target, &info);
            tracing::info!(room = %id, user = %target, by = %actor.username, "member added");
        } else {
            tracing::info!(room = %id, user = %target, role = wanted.as_str(), by = %actor.username, "member role changed");
        }
        Ok((Member::new(target, &record), added))
    }

    /// Removes `target` from a room: its owners and admins may remove anyone, anyone may remove
    /// themself. The last owner can only be removed by an admin (ownership then passes on).
    pub async fn remove_member(&self, id: RoomId, target: &str, actor: &User) -> Result<()> {
        let target = canonical_username(target);
        let guard = self.membership_lock.lock().await;
        let standing = self.visible(id, actor)?;
        let removing_self = target == actor.username;
        if standing.room.kind == RoomKind::Direct && !removing_self && !actor.is_admin {
            return Err(direct_room_fixed());
        }
        if !removing_self && !standing.is_owner() && !actor.is_admin {
            return Err(Error::Forbidden(
                "only the room's owner or an admin can remove members".into(),
            ));
        }
        let Some(member) = self.store.member(id, &target)? else {
            return Err(Error::unknown(
                "not_member",
                format!("{target} is not a member of this room"),
            ));
        };
        if member.role == Role::Owner && !actor.is_admin && self.owner_count(id)? <= 1 {
            return Err(last_owner());
        }
        let removed = Standing {
            room: standing.room,
            member: Some(member),
        };
        let delete_room = self.end_membership(&removed, &target)?;
        drop(guard);
        self.finish_removal(id, delete_room).await?;
        tracing::info!(room = %id, user = %target, by = %actor.username, "member removed");
        Ok(())
    }

    /// Adds `target` to any room but a direct one, for the admin console (`confab room
    /// add-member`): no membership of the admin's own is needed. Returns whether it is new.
    pub async fn add_member_as_admin(&self, id: RoomId, target: &str, role: Role) -> Result<bool> {
        let target = canonical_username(target);
        let room = self.room(id)?;
        if room.kind == RoomKind::Direct {
            return Err(direct_room_fixed());
        }
        if self.store.user(&target)?.is_none() {
            return Err(user_not_found(&target));
        }
        let existing = self.store.member(id, &target)?;
        match existing {
            Some(member) if member.role == role => Ok(false),
            Some(member) => {
                if member.role == Role::Owner && self.owner_count(id)? <= 1 {
                    return Err(last_owner());
                }
                let record = MemberRecord { role, ..member };
                self.store.put_member(id, &target, &record)?;
                self.store.flush().await?;
                Ok(false)
            }
            None => {
                self.admit(id, &target, role).await?;
                tracing::info!(room = %id, user = %target, "member added by an admin");
                Ok(true)
            }
        }
    }

    /// Removes `target` from a room for the admin console (`confab room remove-member`); the
    /// last owner's role passes on as when they leave.
    pub async fn remove_member_as_admin(&self, id: RoomId, target: &str) -> Result<()> {
        let target = canonical_username(target);
        let guard = self.membership_lock.lock().await;
        let room = self.room(id)?;
        let Some(member) = self.store.member(id, &target)? else {
            return Err(Error::unknown(
                "not_member",
                format!("{target} is not a member of this room"),
            ));
        };
        let standing = Standing {
            room,
            member: Some(member),
        };
        let delete_room = self.end_membership(&standing, &target)?;
        drop(guard);
        self.finish_removal(id, delete_room).await?;
        tracing::info!(room = %id, user = %target, "member removed by an admin");
        Ok(())
    }

    /// Ends every membership of a user whose account is being deleted, so that a new account of
    /// the same name inherits nothing.
    pub async fn forget_user(&self, username: &str) -> Result<()> {
        for id in self.store.rooms_of(username)? {
            let guard = self.membership_lock.lock().await;
            let Ok(room) = self.room(id) else {
                // Expired: its memberships go with it at the next sweep.
                continue;
            };
            let member = self.store.member(id, username)?;
            let standing = Standing { room, member };
            let delete_room = self.end_membership(&standing, username)?;
            drop(guard);
            self.finish_removal(id, delete_room).await?;
        }
        Ok(())
    }

    /// Makes `username` a member with `role` unless they are one already; tells their
    /// connections. Returns their membership.
    pub(super) async fn admit(
        &self,
        id: RoomId,
        username: &str,
        role: Role,
    ) -> Result<MemberRecord> {
        let guard = self.membership_lock.lock().await;
        if let Some(existing) = self.store.member(id, username)? {
            return Ok(existing);
        }
        let record = MemberRecord {
            role,
            joined_at_ms: self.now_ms(),
        };
        if self.store.put_member(id, username, &record)?.is_none() {
            return Err(Error::NotFound("room"));
        }
        drop(guard);
        self.store.flush().await?;
        let room = self.refresh(id)?;
        let info = self.info(room, Some(&record))?;
        self.announce_added(username, &info);
        Ok(record)
    }

    /// Deletes the membership (under the membership lock), handing the owner role on if the
    /// room would have none, and unsubscribes the user everywhere. Returns whether the room is
    /// now empty and must be deleted.
    fn end_membership(&self, standing: &Standing, username: &str) -> Result<bool> {
        let id = standing.room.id;
        let was_owner = standing.is_owner();
        let heir = if was_owner && self.owner_count(id)? <= 1 {
            self.longest_standing_other(id, username)?
        } else {
            None
        };
        let outcome = self.store.remove_member(id, username, heir.as_deref())?;
        self.hub.unsubscribe_user(id, username);
        if let Some(heir) = &heir {
            tracing::info!(room = %id, owner = %heir, "ownership passed on");
        }
        Ok(match outcome {
            RemovedMember::Removed { remaining } => {
                remaining == 0 && standing.room.kind != RoomKind::Public
            }
            RemovedMember::NotMember => false,
        })
    }

    /// After `end_membership`: deletes an emptied room, or tells subscribers the new count (and
    /// the members of an encrypted room its new key version).
    async fn finish_removal(&self, id: RoomId, delete_room: bool) -> Result<()> {
        if delete_room {
            self.remove_room(id).await?;
            tracing::info!(room = %id, "room deleted: its last member left");
        } else {
            self.store.flush().await?;
            if self.room(id).is_ok() {
                self.refresh(id)?;
                self.announce_key_rotation(id)?;
            }
        }
        Ok(())
    }

    fn owner_count(&self, id: RoomId) -> Result<usize> {
        Ok(self
            .store
            .members(id)?
            .iter()
            .filter(|(_, m)| m.role == Role::Owner)
            .count())
    }

    /// The member who joined first, other than `leaving`: the next owner.
    fn longest_standing_other(&self, id: RoomId, leaving: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .members(id)?
            .into_iter()
            .filter(|(name, _)| name != leaving)
            .min_by(|(a_name, a), (b_name, b)| {
                a.joined_at_ms
                    .cmp(&b.joined_at_ms)
                    .then_with(|| a_name.cmp(b_name))
            })
            .map(|(name, _)| name))
    }

    /// Tells every connection of `username` that they are now in `room`.
    pub(super) fn announce_added(&self, username: &str, room: &RoomInfo) {
        self.hub.notify_user(
            username,
            EventKind::Added {
                room: Box::new(room.clone()),
            },
        );
    }
}

pub(super) fn direct_room_fixed() -> Error {
    Error::invalid(
        "direct_room_fixed",
        "the people in a direct room are fixed; open a new direct room for another group",
    )
}

pub(super) fn user_not_found(username: &str) -> Error {
    Error::unknown("user_not_found", format!("there is no user {username:?}"))
}

fn last_owner() -> Error {
    Error::conflict(
        "last_owner",
        "this is the room's last owner: make another member owner first, or leave the room \
         (ownership then passes to the longest-standing member)",
    )
}
