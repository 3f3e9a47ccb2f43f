//! Direct rooms: a conversation of 2 to 8 people without a name. One live direct room exists per
//! set of people; opening it again finds the same room.

use super::membership::{canonical_username, user_not_found};
use super::model::{Room, RoomInfo, User};
use super::rooms::Insertion;
use super::Chat;
use crate::error::{Error, Result};
use crate::store::{Role, RoomKind, RoomRecord};

/// The most people in one direct room, the opener included.
pub const DIRECT_MAX_PEOPLE: usize = 8;

impl Chat {
    /// Opens the direct room of `opener` and `users`: the existing live one for the same set of
    /// people (`false`), or a new one (`true`). An opener who had left it is let back in. The
    /// encrypted direct room of the same people is a room of its own.
    pub async fn open_direct(
        &self,
        opener: &User,
        users: &[String],
        encrypted: bool,
    ) -> Result<(RoomInfo, bool)> {
        let mut others: Vec<String> = users
            .iter()
            .map(|name| canonical_username(name))
            .filter(|name| *name != opener.username)
            .collect();
        others.sort();
        others.dedup();
        if others.is_empty() {
            return Err(Error::invalid(
                "dm_needs_others",
                "a direct room needs at least one other person",
            ));
        }
        if others.len() + 1 > DIRECT_MAX_PEOPLE {
            return Err(Error::invalid(
                "dm_too_many",
                format!("a direct room has at most {DIRECT_MAX_PEOPLE} people, you included"),
            ));
        }
        let missing: Vec<&str> = others
            .iter()
            .filter(|name| !matches!(self.store.user(name), Ok(Some(_))))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(user_not_found(&missing.join(", ")));
        }
        let now = self.now_ms();
        let record = RoomRecord {
            id: String::new(),
            name: String::new(),
            created_by: opener.username.clone(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(self.settings.direct_ttl.as_millis() as u64),
            kind: RoomKind::Direct,
            topic: String::new(),
            member_count: 0,
            encrypted,
            key_version: u32::from(encrypted),
        };
        let guard = self.membership_lock.lock().await;
        let inserted = self.insert_new_room(record, &others, opener)?;
        drop(guard);
        match inserted {
            Insertion::ExistingDirect(id) => {
                let member = self.admit(id, &opener.username, Role::Member).await?;
                Ok((self.info(self.room(id)?, Some(&member))?, false))
            }
            Insertion::New { id, record, owner } => {
                self.store.flush().await?;
                let room = Room::from_record(id, &record, None);
                let info = self.info(room, Some(&owner))?;
                self.announce_added(&opener.username, &info);
                for other in &others {
                    let theirs = RoomInfo {
                        role: Some(Role::Member),
                        activity: None,
                        ..info.clone()
                    };
                    self.announce_added(other, &theirs);
                }
                tracing::info!(room = %id, people = others.len() + 1, by = %opener.username, "direct room opened");
                Ok((info, true))
            }
        }
    }
}
