//! Read markers, unread and mention counts, and notification levels: what a member has missed
//! in a room and how they want to hear about it.

use super::events::EventKind;
use super::model::{Room, RoomActivity, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::{MessageId, RoomId};
use crate::store::{NotificationLevel, ReadMarkerRecord, RoomKind};

impl Chat {
    /// Moves `user`'s read marker in `room` forward to `message` (an older one is accepted and
    /// ignored). When it moves, every other connection of the user hears `read`, so reading on
    /// one device clears the others. `origin` is the connection that marked, if any.
    pub fn mark_read(
        &self,
        room: RoomId,
        user: &User,
        message: MessageId,
        origin: Option<u64>,
    ) -> Result<MessageId> {
        self.membership(room, user)?;
        let Some(ordinal) = self.store.ordinal_of(room, message.0)? else {
            return Err(Error::invalid(
                "invalid_marker",
                "the marker must name a message of this room",
            ));
        };
        let marker = ReadMarkerRecord {
            message: message.0,
            ordinal,
        };
        let (stored, moved) = self
            .store
            .advance_read_marker(room, &user.username, marker)?;
        if moved {
            let event = super::events::Event::new(EventKind::Read {
                room,
                message: MessageId(stored.message),
            });
            self.hub.connections().notify_where(
                |conn| conn.username == user.username && Some(conn.id) != origin,
                &event,
            );
        }
        Ok(MessageId(stored.message))
    }

    /// Sets when `user` wants to hear about `room`.
    pub async fn set_notifications(
        &self,
        room: RoomId,
        user: &User,
        level: &str,
    ) -> Result<NotificationLevel> {
        self.membership(room, user)?;
        let level = NotificationLevel::parse(level.trim()).ok_or_else(|| {
            Error::invalid(
                "invalid_level",
                "the level is \"all\", \"mentions\" or \"none\"",
            )
        })?;
        self.store
            .set_notification_level(room, &user.username, level)?;
        self.store.flush().await?;
        Ok(level)
    }

    /// What `username`, a member, has missed in `room`, and their notification level.
    pub(super) fn activity(&self, room: &Room, username: &str) -> Result<RoomActivity> {
        let marker = self.store.read_marker(room.id, username)?;
        let last = self.store.last_message(room.id)?;
        let (read_seq, read_ordinal) = marker.map_or((0, 0), |m| (m.message, m.ordinal));
        let last_ordinal = match &last {
            Some((_, record)) if record.ordinal.is_some() => record.ordinal.unwrap_or(0),
            Some((seq, _)) => self.store.ordinal_of(room.id, *seq)?.unwrap_or(0),
            None => 0,
        };
        let level = match self.store.notification_level(room.id, username)? {
            Some(level) => level,
            None if room.kind == RoomKind::Direct => NotificationLevel::All,
            None => NotificationLevel::Mentions,
        };
        Ok(RoomActivity {
            unread_count: last_ordinal.saturating_sub(read_ordinal),
            mention_count: self.store.mention_count(room.id, username, read_seq)?,
            last_read: marker.map(|m| MessageId(m.message)),
            last_message: last
                .map(|(seq, record)| super::model::Message::from_record(room.id, seq, record)),
            notifications: level,
        })
    }
}
