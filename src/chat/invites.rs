//! Invite links into private rooms. A code is 256 random bits shown once to its creator and
//! stored only as its SHA-256, like a session token.

use std::time::Duration;

use super::membership::direct_room_fixed;
use super::model::{Invite, RoomInfo, User};
use super::Chat;
use crate::auth::tokens;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{InviteRecord, Role, RoomKind, UseInvite};

/// How long an invite lasts when its creator does not say.
pub const INVITE_DEFAULT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
pub const INVITE_MIN_LIFETIME: Duration = Duration::from_secs(60);
pub const INVITE_MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
pub const INVITE_MAX_USES: u32 = 10_000;

impl Chat {
    /// Creates an invite into a private room `actor` is a member of.
    pub async fn create_invite(
        &self,
        id: RoomId,
        actor: &User,
        max_uses: Option<u32>,
        lifetime: Option<Duration>,
    ) -> Result<Invite> {
        let standing = self.readable(id, actor)?;
        match standing.room.kind {
            RoomKind::Public => {
                return Err(Error::invalid(
                    "invite_public_room",
                    "public rooms need no invite: anyone can join them",
                ))
            }
            RoomKind::Direct => return Err(direct_room_fixed()),
            RoomKind::Private => {}
        }
        if standing.member.is_none() {
            return Err(Error::NotMember);
        }
        if max_uses.is_some_and(|max| !(1..=INVITE_MAX_USES).contains(&max)) {
            return Err(Error::invalid(
                "bad_request",
                format!("max_uses is between 1 and {INVITE_MAX_USES}"),
            ));
        }
        let lifetime = lifetime.unwrap_or(INVITE_DEFAULT_LIFETIME);
        if !(INVITE_MIN_LIFETIME..=INVITE_MAX_LIFETIME).contains(&lifetime) {
            return Err(Error::invalid(
                "bad_request",
                "expires_in is between 60 and 2592000 seconds (30 days)",
            ));
        }
        let code = tokens::generate();
        let hash = tokens::hash(&code);
        let now = self.now_ms();
        let record = InviteRecord {
            id: invite_id(&hash),
            room: id.to_string(),
            created_by: actor.username.clone(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(lifetime.as_millis() as u64),
            max_uses,
            uses: 0,
        };
        self.store.insert_invite(id, &hash, &record)?;
        self.store.flush().await?;
        tracing::info!(room = %id, invite = %record.id, by = %actor.username, "invite created");
        Ok(invite(id, record, Some(code)))
    }

    /// The invites of a room, for its members (without their codes).
    pub fn invites(&self, id: RoomId, actor: &User) -> Result<Vec<Invite>> {
        self.membership(id, actor)?;
        Ok(self
            .store
            .room_invites(id)?
            .into_iter()
            .map(|(_, record)| invite(id, record, None))
            .collect())
    }

    /// Revokes an invite: its creator, the room's owners and admins may.
    pub async fn delete_invite(&self, id: RoomId, invite_id: &str, actor: &User) -> Result<()> {
        let standing = self.visible(id, actor)?;
        if standing.member.is_none() && !actor.is_admin {
            return Err(Error::NotMember);
        }
        let found = self
            .store
            .room_invites(id)?
            .into_iter()
            .find(|(_, record)| record.id == invite_id);
        let Some((hash, record)) = found else {
            return Err(invite_not_found());
        };
        if record.created_by != actor.username && !standing.is_owner() && !actor.is_admin {
            return Err(Error::Forbidden(
                "only the invite's creator, the room's owner or an admin can revoke it".into(),
            ));
        }
        self.store.delete_invite(id, &hash)?;
        self.store.flush().await?;
        tracing::info!(room = %id, invite = %invite_id, by = %actor.username, "invite revoked");
        Ok(())
    }

    /// Joins the room of an invite. A member following their own link again uses nothing up.
    pub async fn accept_invite(&self, code: &str, user: &User) -> Result<RoomInfo> {
        let hash = tokens::hash(code);
        let record = self.store.invite(&hash)?.ok_or_else(invite_not_found)?;
        let id: RoomId = record.room.parse().map_err(|_| invite_not_found())?;
        let room = self.room(id).map_err(|_| invite_not_found())?;
        if let Some(member) = self.store.member(id, &user.username)? {
            return self.info(room, Some(&member));
        }
        match self.store.use_invite(&hash, self.now_ms())? {
            UseInvite::Used(_) => {}
            UseInvite::NotFound => return Err(invite_not_found()),
            UseInvite::Expired => {
                return Err(Error::gone("invite_expired", "this invite has expired"))
            }
            UseInvite::UsedUp => {
                return Err(Error::gone(
                    "invite_used_up",
                    "this invite has been used as often as it may be",
                ))
            }
        }
        let member = self.admit(id, &user.username, Role::Member).await?;
        tracing::info!(room = %id, user = %user.username, invite = %record.id, "joined by invite");
        self.info(self.room(id)?, Some(&member))
    }
}

/// The public handle of an invite: the first 8 bytes of its code's hash, in hex.
fn invite_id(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

fn invite(room: RoomId, record: InviteRecord, code: Option<String>) -> Invite {
    Invite {
        id: record.id,
        room,
        code,
        created_by: record.created_by,
        created_at_ms: record.created_at_ms,
        expires_at_ms: record.expires_at_ms,
        max_uses: record.max_uses,
        uses: record.uses,
    }
}

fn invite_not_found() -> Error {
    Error::unknown("invite_not_found", "no such invite (or its room is gone)")
}
