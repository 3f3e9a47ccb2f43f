//! Creating, listing, reading, changing and deleting rooms.

use std::collections::HashSet;

use super::events::{Event, EventKind};
use super::model::{validate_room_name, validate_topic, Room, RoomInfo, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{InsertRoom, MemberRecord, Role, RoomKind, RoomRecord, UpdateRoom};

/// What a new room (not a direct one: see `open_direct`) starts with.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub name: String,
    pub kind: RoomKind,
    pub topic: Option<String>,
    /// End-to-end encrypted: private rooms only (and direct ones, see `open_direct`).
    pub encrypted: bool,
}

/// What inserting a new room did.
pub(super) enum Insertion {
    New {
        id: RoomId,
        record: RoomRecord,
        owner: MemberRecord,
    },
    ExistingDirect(RoomId),
}

/// A change to a room's name and topic; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct RoomChange {
    pub name: Option<String>,
    pub topic: Option<String>,
}

impl Chat {
    /// Creates a public or private room that expires `rooms.ttl` from now, with its creator as
    /// owner. A public room's name must be free among live public rooms.
    pub async fn create_room(&self, new: NewRoom, creator: &User) -> Result<RoomInfo> {
        if new.kind == RoomKind::Direct {
            return Err(Error::invalid(
                "invalid_kind",
                "direct rooms are opened with POST /api/dms",
            ));
        }
        if new.encrypted && new.kind != RoomKind::Private {
            return Err(Error::invalid(
                "invalid_encryption",
                "only private rooms and direct rooms can be end-to-end encrypted",
            ));
        }
        let name = validate_room_name(&new.name)?;
        let topic = new.topic.as_deref().map(validate_topic).transpose()?;
        let now = self.now_ms();
        let record = RoomRecord {
            id: String::new(),
            name,
            created_by: creator.username.clone(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(self.settings.room_ttl.as_millis() as u64),
            kind: new.kind,
            topic: topic.unwrap_or_default(),
            member_count: 0,
            encrypted: new.encrypted,
            key_version: u32::from(new.encrypted),
        };
        let Insertion::New { id, record, owner } = self.insert_new_room(record, &[], creator)?
        else {
            return Err(Error::invalid("invalid_kind", "not a direct room"));
        };
        self.store.flush().await?;
        tracing::info!(room = %id, kind = record.kind.as_str(), by = %creator.username, "room created");
        let info = self.info(Room::from_record(id, &record, None), Some(&owner))?;
        self.announce_added(&creator.username, &info);
        Ok(info)
    }

    /// Inserts a new room with `creator` as owner and `others` as members. Fails with
    /// `room_name_taken` for a taken public name; finds the live direct room of the same people
    /// instead of making a second one.
    pub(super) fn insert_new_room(
        &self,
        mut record: RoomRecord,
        others: &[String],
        creator: &User,
    ) -> Result<Insertion> {
        let now = record.created_at_ms;
        let id = RoomId::generate(now);
        record.id = id.to_string();
        let owner = MemberRecord {
            role: Role::Owner,
            joined_at_ms: now,
        };
        let mut members = vec![(creator.username.clone(), owner.clone())];
        for other in others {
            let member = MemberRecord {
                role: Role::Member,
                joined_at_ms: now,
            };
            members.push((other.clone(), member));
        }
        record.member_count = members.len() as u64;
        match self.store.insert_room(id, &record, &members, now)? {
            InsertRoom::Inserted => Ok(Insertion::New { id, record, owner }),
            InsertRoom::NameTaken => Err(Error::conflict(
                "room_name_taken",
                format!("a room named {:?} already exists", record.name),
            )),
            InsertRoom::DirectExists(existing) => Ok(Insertion::ExistingDirect(existing)),
        }
    }

    /// The rooms `viewer` can see, most recently active first: every live public room and the
    /// private and direct rooms they belong to; with `only_mine`, just the rooms they are in.
    ///
    /// Reads two indexes (the viewer's rooms, the public rooms) and one record per room, never
    /// every room of the server.
    pub fn list_rooms_for(&self, viewer: &User, only_mine: bool) -> Result<Vec<RoomInfo>> {
        let now = self.now_ms();
        let mine: HashSet<RoomId> = self.store.rooms_of(&viewer.username)?.into_iter().collect();
        let mut ids: Vec<RoomId> = mine.iter().copied().collect();
        if !only_mine {
            ids.extend(
                self.store
                    .public_room_ids()?
                    .into_iter()
                    .filter(|id| !mine.contains(id)),
            );
        }
        let mut rooms = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(room) = self.stored_room(id, now)? else {
                continue;
            };
            let member = if mine.contains(&id) {
                self.store.member(id, &viewer.username)?
            } else {
                None
            };
            let mut info = self.info(room, member.as_ref())?;
            if member.is_some() {
                info.activity = Some(self.activity(&info.room, &viewer.username)?);
            }
            rooms.push(info);
        }
        sort_by_activity(&mut rooms);
        Ok(rooms)
    }

    /// Every live room whose messages `reader` may read now: the public rooms and their own
    /// (for search, which must never look further).
    pub fn readable_rooms(&self, reader: &User) -> Result<Vec<Room>> {
        let now = self.now_ms();
        let mut ids: HashSet<RoomId> = self.store.rooms_of(&reader.username)?.into_iter().collect();
        ids.extend(self.store.public_room_ids()?);
        let mut rooms = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(room) = self.stored_room(id, now)? {
                rooms.push(room);
            }
        }
        Ok(rooms)
    }

    /// Every live room of every kind, most recently active first (for administrators: names
    /// and counts, never messages).
    pub fn list_all_rooms(&self) -> Result<Vec<Room>> {
        let now = self.now_ms();
        let mut rooms = Vec::new();
        for (id, record) in self.store.rooms()? {
            if record.expires_at_ms <= now {
                continue;
            }
            rooms.push(Room::from_record(id, &record, self.last_active(id)?));
        }
        rooms.sort_by(|a, b| {
            b.last_active_at_ms
                .cmp(&a.last_active_at_ms)
                .then(b.id.cmp(&a.id))
        });
        Ok(rooms)
    }

    /// A live room straight from the store (not through the hub, so listing many rooms loads
    /// no channels), or None.
    fn stored_room(&self, id: RoomId, now: u64) -> Result<Option<Room>> {
        let Some(record) = self.store.room(id)? else {
            return Ok(None);
        };
        if record.expires_at_ms <= now {
            return Ok(None);
        }
        Ok(Some(Room::from_record(id, &record, self.last_active(id)?)))
    }

    fn last_active(&self, id: RoomId) -> Result<Option<u64>> {
        Ok(match self.hub.last_active_at(id) {
            Some(at) => Some(at),
            None => self.store.newest_message_at(id)?,
        })
    }

    /// One room as `viewer` may see it (`NotFound` for a private room they are not in).
    pub fn room_for(&self, id: RoomId, viewer: &User) -> Result<RoomInfo> {
        let standing = self.visible(id, viewer)?;
        let mut info = self.info(standing.room, standing.member.as_ref())?;
        if standing.member.is_some() {
            info.activity = Some(self.activity(&info.room, &viewer.username)?);
        }
        Ok(info)
    }

    /// Renames a room or changes its topic (its owner or an admin). Direct rooms have no name.
    pub async fn change_room(
        &self,
        id: RoomId,
        change: RoomChange,
        actor: &User,
    ) -> Result<RoomInfo> {
        let _serialized = self.membership_lock.lock().await;
        let standing = self.managed(id, actor)?;
        let mut record = self.store.room(id)?.ok_or(Error::NotFound("room"))?;
        if let Some(name) = &change.name {
            if record.kind == RoomKind::Direct {
                return Err(Error::invalid(
                    "direct_room_fixed",
                    "a direct room has no name; its members name it",
                ));
            }
            record.name = validate_room_name(name)?;
        }
        if let Some(topic) = &change.topic {
            record.topic = validate_topic(topic)?;
        }
        match self.store.update_room(id, &record, self.now_ms())? {
            UpdateRoom::Updated => {}
            UpdateRoom::Gone => return Err(Error::NotFound("room")),
            UpdateRoom::NameTaken => {
                return Err(Error::conflict(
                    "room_name_taken",
                    format!("a room named {:?} already exists", record.name),
                ))
            }
        }
        self.store.flush().await?;
        let room = self.refresh(id)?;
        tracing::info!(room = %id, by = %actor.username, "room changed");
        self.info(room, standing.member.as_ref())
    }

    /// Re-reads a room after a change, updates the hub's copy and tells its subscribers.
    pub(super) fn refresh(&self, id: RoomId) -> Result<Room> {
        let record = self.store.room(id)?.ok_or(Error::NotFound("room"))?;
        let room = Room::from_record(id, &record, self.last_active(id)?);
        self.hub.room_changed(&room);
        Ok(room)
    }

    /// How many rooms are live now: one read of every room record, no messages. Blocking; for
    /// the metrics scrape, which runs it off the async workers.
    pub fn live_room_count(&self) -> Result<usize> {
        let now = self.now_ms();
        let rooms = self.store.rooms()?;
        Ok(rooms
            .iter()
            .filter(|(_, record)| record.expires_at_ms > now)
            .count())
    }

    /// A live room, or `NotFound` (also for an expired room the sweeper has not reached yet),
    /// whoever asks: callers on behalf of a user go through `visible` or `readable`.
    pub fn room(&self, id: RoomId) -> Result<Room> {
        let now = self.now_ms();
        self.hub
            .with_channel(&self.store, id, |channel| channel.live_room(now).cloned())
    }

    /// Deletes a room on behalf of `actor`, who must be its owner or an admin.
    pub async fn delete_room(&self, id: RoomId, actor: &User) -> Result<()> {
        self.managed(id, actor)?;
        self.remove_room(id).await?;
        tracing::info!(room = %id, by = %actor.username, "room deleted");
        Ok(())
    }

    /// Removes a room and all its messages: subscribers are told first, and the channel refuses
    /// sends before any data goes, so no message can be written into a half-deleted room.
    pub async fn remove_room(&self, id: RoomId) -> Result<bool> {
        let existed = self.remove_room_unflushed(id).await?;
        self.store.flush().await?;
        Ok(existed)
    }

    /// `remove_room` without the final flush, for the sweeper, which flushes once per batch of
    /// rooms: an expired room is invisible already, and a crash before the flush only means
    /// the next sweep deletes it again.
    pub(super) async fn remove_room_unflushed(&self, id: RoomId) -> Result<bool> {
        let _no_backup_running = self.deletions.write().await;
        let members = self.store.members(id)?;
        let told = self.hub.close_room(id);
        // Members not looking at the room learn of it too, so their room lists stay right.
        let deleted = Event::new(EventKind::RoomDeleted { room: id });
        let names: HashSet<String> = members.into_iter().map(|(name, _)| name).collect();
        self.hub.connections().notify_where(
            |conn| names.contains(&conn.username) && !told.contains(&conn.id),
            &deleted,
        );
        // Messages accepted before the close may still be on their way to disk.
        self.committed_so_far().await;
        let store = self.store.clone();
        let existed = tokio::task::spawn_blocking(move || store.delete_room(id))
            .await
            .map_err(|_| Error::ShuttingDown)?
            .map_err(Error::from)?;
        self.changed_rooms.room_deleted(id);
        Ok(existed)
    }
}

/// Most recently active first; ties (same millisecond) newest room first.
fn sort_by_activity(rooms: &mut [RoomInfo]) {
    rooms.sort_by(|a, b| {
        b.room
            .last_active_at_ms
            .cmp(&a.room.last_active_at_ms)
            .then(b.room.id.cmp(&a.room.id))
    });
}
