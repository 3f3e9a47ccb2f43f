//! The chat domain's values and the rules on their inputs.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::ids::{MessageId, RoomId};
use crate::store::{
    AttachmentMeta, EncryptedBody, MemberRecord, MessageRecord, ReactionRecord, Role, RoomKind,
    RoomRecord, UserRecord, WebhookStamp,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub is_admin: bool,
    pub created_at_ms: u64,
    /// A bot account (acts only through access tokens).
    pub is_bot: bool,
}

impl From<&UserRecord> for User {
    fn from(record: &UserRecord) -> Self {
        Self {
            username: record.username.clone(),
            is_admin: record.is_admin,
            created_at_ms: record.created_at_ms,
            is_bot: record.is_bot,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: RoomId,
    pub name: String,
    pub created_by: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    /// When its newest message was sent, or its creation time for a room without messages.
    pub last_active_at_ms: u64,
    pub kind: RoomKind,
    pub topic: String,
    pub member_count: u64,
    /// End-to-end encrypted, and if so its current room key version.
    pub encrypted: bool,
    pub key_version: u32,
}

impl Room {
    pub fn from_record(id: RoomId, record: &RoomRecord, last_active_at_ms: Option<u64>) -> Self {
        Self {
            id,
            name: record.name.clone(),
            created_by: record.created_by.clone(),
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
            last_active_at_ms: last_active_at_ms.unwrap_or(record.created_at_ms),
            kind: record.kind,
            topic: record.topic.clone(),
            member_count: record.member_count,
            encrypted: record.encrypted,
            key_version: record.key_version,
        }
    }

    pub fn is_public(&self) -> bool {
        self.kind == RoomKind::Public
    }

    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_at_ms
    }
}

/// A room as one user sees it: with their role if they are a member, and the members of a
/// direct room (which has no name of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub room: Room,
    pub role: Option<Role>,
    pub members: Option<Vec<String>>,
    /// For a member: what they missed and their notification level.
    pub activity: Option<RoomActivity>,
}

/// What one member has missed in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomActivity {
    /// Messages after their read marker.
    pub unread_count: u64,
    /// Of those, the ones that mention them (by name or `@room`).
    pub mention_count: u64,
    pub last_read: Option<MessageId>,
    pub last_message: Option<Arc<Message>>,
    pub notifications: crate::store::NotificationLevel,
}

/// One member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub username: String,
    pub role: Role,
    pub joined_at_ms: u64,
}

impl Member {
    pub fn new(username: String, record: &MemberRecord) -> Self {
        Self {
            username,
            role: record.role,
            joined_at_ms: record.joined_at_ms,
        }
    }
}

/// An invite link into a private room; `code` only when just created (it is stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: String,
    pub room: RoomId,
    pub code: Option<String>,
    pub created_by: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub max_uses: Option<u32>,
    pub uses: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub room: RoomId,
    pub author: String,
    /// Empty for a deleted message.
    pub body: String,
    pub sent_at_ms: u64,
    pub reply_to: Option<MessageId>,
    pub edited_at_ms: Option<u64>,
    pub deleted: bool,
    pub reactions: Vec<ReactionRecord>,
    /// The room sequence number of this state: the id until the first change, then the
    /// change's number. A client's replay cursor is the highest it has seen.
    pub seq: u64,
    /// Posted through this webhook (`author` is its creator).
    pub webhook: Option<WebhookStamp>,
    /// Members mentioned, and `room` for `@room`.
    pub mentions: Vec<String>,
    /// Its place among the room's messages (see `MessageRecord::ordinal`).
    pub ordinal: Option<u64>,
    /// The files sent with it.
    pub attachments: Vec<AttachmentMeta>,
    /// In an encrypted room: the body as the sender's browser encrypted it.
    pub encrypted: Option<EncryptedBody>,
}

impl Message {
    pub fn from_record(room: RoomId, seq: u64, record: MessageRecord) -> Arc<Self> {
        Arc::new(Self {
            id: MessageId(seq),
            room,
            author: record.author,
            body: record.body,
            sent_at_ms: record.sent_at_ms,
            reply_to: record.reply_to.map(MessageId),
            edited_at_ms: record.edited_at_ms,
            deleted: record.deleted,
            reactions: record.reactions,
            seq: record.changed_seq.unwrap_or(seq),
            webhook: record.webhook,
            mentions: record.mentions,
            ordinal: record.ordinal,
            attachments: record.attachments,
            encrypted: record.encrypted,
        })
    }
}

pub const ROOM_NAME_MAX_CHARS: usize = 64;
pub const TOPIC_MAX_CHARS: usize = 256;
pub const NONCE_MAX_CHARS: usize = 128;

/// Trims a room name and checks it: 1..=64 characters, no control characters.
pub fn validate_room_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::invalid(
            "invalid_room_name",
            "a room name cannot be empty",
        ));
    }
    if name.chars().count() > ROOM_NAME_MAX_CHARS {
        return Err(Error::invalid(
            "invalid_room_name",
            "a room name has at most 64 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_room_name",
            "a room name cannot contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// Trims a topic and checks it: at most 256 characters, no control characters but newlines
/// are refused too (a topic is one line). Empty clears the topic.
pub fn validate_topic(raw: &str) -> Result<String> {
    let topic = raw.trim();
    if topic.chars().count() > TOPIC_MAX_CHARS {
        return Err(Error::invalid(
            "invalid_topic",
            "a topic has at most 256 characters",
        ));
    }
    if topic.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_topic",
            "a topic is one line without control characters",
        ));
    }
    Ok(topic.to_string())
}

/// Checks a message body: not blank, at most `max_chars` characters, and no NUL.
pub fn validate_body(body: &str, max_chars: usize) -> Result<()> {
    if body.trim().is_empty() {
        return Err(Error::invalid("invalid_body", "a message cannot be empty"));
    }
    validate_optional_body(body, max_chars)
}

/// The rules of a body that may be empty (a message that carries attachments).
pub fn validate_optional_body(body: &str, max_chars: usize) -> Result<()> {
    if body.chars().count() > max_chars {
        return Err(Error::TooLarge(format!(
            "a message has at most {max_chars} characters"
        )));
    }
    if body.contains('\0') {
        return Err(Error::invalid(
            "invalid_body",
            "a message cannot contain NUL characters",
        ));
    }
    Ok(())
}

pub fn validate_nonce(nonce: &str) -> Result<()> {
    if nonce.is_empty() || nonce.chars().count() > NONCE_MAX_CHARS || nonce.contains('\0') {
        return Err(Error::invalid(
            "invalid_nonce",
            "a nonce has 1 to 128 characters and no NUL",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_trimmed_and_bounded() {
        assert_eq!(validate_room_name("  general ").expect("valid"), "general");
        assert!(validate_room_name("   ").is_err());
        assert!(validate_room_name(&"x".repeat(65)).is_err());
        assert!(validate_room_name(&"é".repeat(64)).is_ok());
        assert!(validate_room_name("a\u{7}b").is_err());
    }

    #[test]
    fn topics_are_one_bounded_line() {
        assert_eq!(validate_topic("  plans  ").expect("valid"), "plans");
        assert_eq!(validate_topic("").expect("empty clears"), "");
        assert!(validate_topic(&"t".repeat(257)).is_err());
        assert!(validate_topic("two\nlines").is_err());
    }

    #[test]
    fn bodies_must_have_text_and_fit() {
        assert!(validate_body("hi", 10).is_ok());
        assert!(validate_body(" \n\t", 10).is_err());
        assert_eq!(
            validate_body(&"x".repeat(11), 10).expect_err("long").code(),
            "too_large"
        );
        assert!(validate_body("a\0b", 10).is_err());
    }
}
