//! Read markers, unread and mention counts, and notification levels: what a member has missed
//! in a room and how they want to hear about it.

use std::collections::HashSet;

use super::events::EventKind;
use super::model::{Message, Room, RoomActivity, User};
use super::{mentions, Chat};
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
            mentions: None,
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
        let last = self.store.newest_message(room.id)?;
        let read_ordinal = marker.map_or(0, |m| m.ordinal);
        let last_ordinal = match &last {
            Some((_, record)) if record.ordinal.is_some() => record.ordinal.unwrap_or(0),
            Some((seq, _)) => self.store.ordinal_of(room.id, *seq)?.unwrap_or(0),
            None => 0,
        };
        let level = self.notification_level(room.id, room.kind, username)?;
        Ok(RoomActivity {
            unread_count: last_ordinal.saturating_sub(read_ordinal),
            mention_count: self
                .store
                .mention_count(room.id, username, marker.as_ref())?,
            last_read: marker.map(|m| MessageId(m.message)),
            last_message: last
                .map(|(seq, record)| super::model::Message::from_record(room.id, seq, record)),
            notifications: level,
        })
    }

    /// `username`'s level in a room of `kind`: theirs, or the default (everything in direct
    /// rooms, mentions elsewhere).
    fn notification_level(
        &self,
        room: RoomId,
        kind: RoomKind,
        username: &str,
    ) -> Result<NotificationLevel> {
        Ok(match self.store.notification_level(room, username)? {
            Some(level) => level,
            None if kind == RoomKind::Direct => NotificationLevel::All,
            None => NotificationLevel::Mentions,
        })
    }

    /// Who among `candidates` a new message should notify, per their level in its room (never
    /// its author), each with whether it mentions them; and the room it was sent in.
    pub fn notified_by(
        &self,
        message: &Message,
        candidates: &HashSet<String>,
    ) -> Result<Option<(Room, Vec<Notified>)>> {
        let Some(record) = self.store.room(message.room)? else {
            return Ok(None);
        };
        let room = Room::from_record(message.room, &record, None);
        let everyone = message.mentions.iter().any(|m| m == mentions::EVERYONE);
        let mut notified = Vec::new();
        for username in self.store.room_member_list(message.room)?.names() {
            if username == message.author || !candidates.contains(username) {
                continue;
            }
            let mentioned = everyone || message.mentions.iter().any(|m| m == username);
            let wanted = match self.notification_level(room.id, room.kind, username)? {
                NotificationLevel::All => true,
                NotificationLevel::Mentions => mentioned,
                NotificationLevel::None => false,
            };
            if wanted {
                notified.push(Notified {
                    username: username.to_owned(),
                    mentioned,
                });
            }
        }
        Ok(Some((room, notified)))
    }

    /// Whether `username` is still a member of `room` who has not read up to `message` on any
    /// device (no marker at or past it).
    pub fn still_unread(&self, room: RoomId, username: &str, message: MessageId) -> Result<bool> {
        if self.store.member(room, username)?.is_none() {
            return Ok(false);
        }
        let marker = self.store.read_marker(room, username)?;
        Ok(marker.map_or(true, |m| m.message < message.0))
    }
}

/// A member a message notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    pub username: String,
    pub mentioned: bool,
}
