//! The JSON shapes of users, rooms and messages, shared by the REST API (as OpenAPI schemas)
//! and the WebSocket protocol (through serde), so both always say the same thing.

use poem_openapi::Object;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::chat::model::{Message, Room, User};

/// RFC 3339 UTC with milliseconds: `2026-11-25T14:03:07.120Z`.
pub fn format_time(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format)
        .unwrap_or_else(|_| at.format(&Rfc3339).unwrap_or_default())
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "User")]
pub struct UserView {
    /// Lowercase, 3-32 characters of `[a-z0-9_.-]`.
    pub username: String,
    pub is_admin: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            username: user.username.clone(),
            is_admin: user.is_admin,
            created_at: format_time(user.created_at_ms),
        }
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Room")]
pub struct RoomView {
    /// ULID: 26 characters, sorting by creation time.
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
    /// The room and all its messages are deleted at this time.
    pub expires_at: String,
    /// Time of the newest message, or of creation for an empty room.
    pub last_active_at: String,
}

impl From<&Room> for RoomView {
    fn from(room: &Room) -> Self {
        Self {
            id: room.id.to_string(),
            name: room.name.clone(),
            created_by: room.created_by.clone(),
            created_at: format_time(room.created_at_ms),
            expires_at: format_time(room.expires_at_ms),
            last_active_at: format_time(room.last_active_at_ms),
        }
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Message")]
pub struct MessageView {
    /// 16 hex digits; ids sort as strings in send order within a room.
    pub id: String,
    /// The room's id.
    pub room: String,
    pub author: String,
    pub body: String,
    /// RFC 3339 UTC with milliseconds.
    pub sent_at: String,
}

impl From<&Message> for MessageView {
    fn from(message: &Message) -> Self {
        Self {
            id: message.id.to_string(),
            room: message.room.to_string(),
            author: message.author.clone(),
            body: message.body.clone(),
            sent_at: format_time(message.sent_at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_764_079_387_120), "2025-11-25T14:03:07.120Z");
    }
}
