//! Creating, listing, reading and deleting rooms.

use super::model::{validate_room_name, Room, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{InsertRoom, RoomRecord};

impl Chat {
    /// Creates a room that expires `rooms.ttl` from now; its name must be free among live rooms.
    pub async fn create_room(&self, name: &str, creator: &User) -> Result<Room> {
        let name = validate_room_name(name)?;
        let now = self.now_ms();
        let expires_at_ms = now.saturating_add(self.settings.room_ttl.as_millis() as u64);
        let id = RoomId::generate(now);
        let record = RoomRecord {
            id: id.to_string(),
            name,
            created_by: creator.username.clone(),
            created_at_ms: now,
            expires_at_ms,
        };
        match self.store.insert_room(id, &record, now)? {
            InsertRoom::NameTaken => Err(Error::Conflict {
                code: "room_name_taken",
                message: format!("a room named {:?} already exists", record.name),
            }),
            InsertRoom::Inserted => {
                self.store.flush().await?;
                tracing::info!(room = %id, name = %record.name, by = %creator.username, "room created");
                Ok(Room::from_record(id, &record, None))
            }
        }
    }

    /// Live rooms, most recently active first.
    pub fn list_rooms(&self) -> Result<Vec<Room>> {
        let now = self.now_ms();
        let mut rooms = Vec::new();
        for (id, record) in self.store.rooms()? {
            if record.expires_at_ms <= now {
                continue;
            }
            let last_active = match self.hub.last_active_at(id) {
                Some(at) => Some(at),
                None => self.store.last_message(id)?.map(|(_, m)| m.sent_at_ms),
            };
            rooms.push(Room::from_record(id, &record, last_active));
        }
        rooms.sort_by(|a, b| {
            b.last_active_at_ms
                .cmp(&a.last_active_at_ms)
                .then(b.id.cmp(&a.id))
        });
        Ok(rooms)
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

    /// A live room, or `NotFound` (also for an expired room the sweeper has not reached yet).
    pub fn room(&self, id: RoomId) -> Result<Room> {
        let now = self.now_ms();
        self.hub
            .with_channel(&self.store, id, |channel| channel.live_room(now).cloned())
    }

    /// Deletes a room on behalf of `actor`, who must be its creator or an admin.
    pub async fn delete_room(&self, id: RoomId, actor: &User) -> Result<()> {
        let room = self.room(id)?;
        if room.created_by != actor.username && !actor.is_admin {
            return Err(Error::Forbidden(
                "only the room's creator or an admin can delete it".into(),
            ));
        }
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
        self.hub.close_room(id);
        // Messages accepted before the close may still be on their way to disk.
        self.committed_so_far().await;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.delete_room(id))
            .await
            .map_err(|_| Error::ShuttingDown)?
            .map_err(Error::from)
    }
}
