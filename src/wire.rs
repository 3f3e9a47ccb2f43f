//! The JSON shapes of users, rooms and messages, shared by the REST API (as OpenAPI schemas)
//! and the WebSocket protocol (through serde), so both always say the same thing.

use poem_openapi::Object;
use serde::Serialize;

use crate::chat::model::{Invite, Member, Message, Room, RoomInfo, User};

/// RFC 3339 UTC with milliseconds: `2026-11-25T14:03:07.120Z`. Times past the year 9999 (a
/// far expiry, a corrupt record) show as its last millisecond.
///
/// Written out by hand rather than through `humantime`'s `Display`: a room listing formats four
/// times per room, and the formatter machinery was 8.6 % of a 1,450-room listing's CPU (see
/// docs/performance.md). The tests hold it to `humantime`'s output.
pub fn format_time(ms: u64) -> String {
    const LAST_MS_OF_9999: u64 = 253_402_300_799_999;
    const MS_PER_DAY: u64 = 86_400_000;
    let ms = ms.min(LAST_MS_OF_9999);
    let (year, month, day) = civil_date(ms / MS_PER_DAY);
    let of_day = ms % MS_PER_DAY;
    let mut out = String::with_capacity(24);
    push_digits(&mut out, year, 4);
    out.push('-');
    push_digits(&mut out, month, 2);
    out.push('-');
    push_digits(&mut out, day, 2);
    out.push('T');
    push_digits(&mut out, of_day / 3_600_000, 2);
    out.push(':');
    push_digits(&mut out, of_day / 60_000 % 60, 2);
    out.push(':');
    push_digits(&mut out, of_day / 1000 % 60, 2);
    out.push('.');
    push_digits(&mut out, of_day % 1000, 3);
    out.push('Z');
    out
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01: the calendar
/// repeats every 400 years (146,097 days), and counting years from March puts the leap day
/// last.
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// `value` in exactly `width` decimal digits (it never has more).
fn push_digits(out: &mut String, value: u64, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u64.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "User")]
pub struct UserView {
    /// Lowercase, 3-32 characters of `[a-z0-9_.-]`.
    pub username: String,
    pub is_admin: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// A bot account: it cannot log in with a password and acts only through access tokens.
    pub is_bot: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            username: user.username.clone(),
            is_admin: user.is_admin,
            created_at: format_time(user.created_at_ms),
            is_bot: user.is_bot,
        }
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Room")]
pub struct RoomView {
    /// ULID: 26 characters, sorting by creation time.
    pub id: String,
    /// Empty for direct rooms, which are named by their members.
    pub name: String,
    pub created_by: String,
    pub created_at: String,
    /// The room and all its messages are deleted at this time.
    pub expires_at: String,
    /// Time of the newest message, or of creation for an empty room.
    pub last_active_at: String,
    /// `public` (listed to everyone, anyone may join), `private` (members only, joined by
    /// being added or by invite) or `direct` (2 to 8 people, fixed).
    pub kind: String,
    /// One line, at most 256 characters; empty when unset.
    pub topic: String,
    pub member_count: u64,
    /// End-to-end encrypted: messages carry `ciphertext` (see docs/encrypted-rooms.md).
    pub encrypted: bool,
    /// An encrypted room's current room key version (messages must be sent with it); absent
    /// for plain rooms.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
    /// Whether the caller is a member.
    pub is_member: bool,
    /// The caller's role (`owner` or `member`) when a member; absent in shared events.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Usernames of a direct room's members, sorted; absent for other kinds.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    /// For a member (in `GET /api/rooms` and `GET /api/rooms/{id}`): messages after their read
    /// marker.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<u64>,
    /// For a member: of those, the ones that mention them (`@name` or `@room`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mention_count: Option<u64>,
    /// For a member: the id of the last message they read; null if none yet.
    #[oai(skip_serializing_if_is_none, nullable)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read: Option<Option<String>>,
    /// For a member: the newest message; null in an empty room.
    #[oai(skip_serializing_if_is_none, nullable)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Option<Box<MessageView>>>,
    /// For a member: `all`, `mentions` or `none` (default: `all` in direct rooms, `mentions`
    /// elsewhere).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<String>,
}

impl RoomView {
    fn of(room: &Room, is_member: bool) -> Self {
        Self {
            id: room.id.to_string(),
            name: room.name.clone(),
            created_by: room.created_by.clone(),
            created_at: format_time(room.created_at_ms),
            expires_at: format_time(room.expires_at_ms),
            last_active_at: format_time(room.last_active_at_ms),
            kind: room.kind.as_str().to_string(),
            topic: room.topic.clone(),
            member_count: room.member_count,
            encrypted: room.encrypted,
            key_version: room.encrypted.then_some(room.key_version),
            is_member,
            role: None,
            members: None,
            unread_count: None,
            mention_count: None,
            last_read: None,
            last_message: None,
            notifications: None,
        }
    }

    /// A room as its subscribers see it in shared events: they are all members.
    pub fn for_subscribers(room: &Room) -> Self {
        Self::of(room, true)
    }
}

impl From<&RoomInfo> for RoomView {
    fn from(info: &RoomInfo) -> Self {
        let activity = info.activity.as_ref();
        Self {
            role: info.role.map(|role| role.as_str().to_string()),
            members: info.members.clone(),
            unread_count: activity.map(|a| a.unread_count),
            mention_count: activity.map(|a| a.mention_count),
            last_read: activity.map(|a| a.last_read.map(|id| id.to_string())),
            last_message: activity.map(|a| {
                a.last_message
                    .as_ref()
                    .map(|m| Box::new(MessageView::from(m.as_ref())))
            }),
            notifications: activity.map(|a| a.notifications.as_str().to_string()),
            ..Self::of(&info.room, info.role.is_some())
        }
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Member")]
pub struct MemberView {
    pub username: String,
    /// `owner` (may rename the room, remove members, delete it) or `member`.
    pub role: String,
    pub joined_at: String,
    /// A bot account.
    pub is_bot: bool,
}

impl MemberView {
    pub fn new(member: &Member, is_bot: bool) -> Self {
        Self {
            username: member.username.clone(),
            role: member.role.as_str().to_string(),
            joined_at: format_time(member.joined_at_ms),
            is_bot,
        }
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Invite")]
pub struct InviteView {
    /// Handle for listing and revoking (not the code).
    pub id: String,
    /// The secret code: only in the answer that created the invite (it is stored hashed).
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
    /// A link that opens the web UI and accepts the invite; only with `code`.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
    pub expires_at: String,
    /// How often it may be used; null for no limit (until it expires).
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub created_by: String,
    pub created_at: String,
}

impl InviteView {
    /// `origin` is where the creator reached the server, e.g. `https://chat.example.org`.
    pub fn new(invite: &Invite, origin: &str) -> Self {
        Self {
            id: invite.id.clone(),
            url: invite
                .code
                .as_ref()
                .map(|code| format!("{origin}/#/invite/{code}")),
            code: invite.code.clone(),
            expires_at: format_time(invite.expires_at_ms),
            max_uses: invite.max_uses,
            uses: invite.uses,
            created_by: invite.created_by.clone(),
            created_at: format_time(invite.created_at_ms),
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
    /// The source text (CommonMark); empty when deleted.
    pub body: String,
    /// The body rendered from CommonMark and sanitized (safe to assign to `innerHTML`): raw
    /// HTML shows as text, links open in a new tab with `rel="noopener noreferrer nofollow"`,
    /// only http, https and mailto links, images as links. Absent when there is nothing to
    /// render: the body is plain text (no Markdown, no URL, no `&`, `<` or `>`; show it as one
    /// paragraph of text), or the message is deleted.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// RFC 3339 UTC with milliseconds.
    pub sent_at: String,
    /// When the body was last edited; absent if never.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// A tombstone: the body and reactions were erased; the id keeps its place.
    pub deleted: bool,
    /// In the order each emoji was first used.
    pub reactions: Vec<ReactionView>,
    /// The id of the message this one answers (same room).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The room sequence number of this state (16 hex digits, like ids), once the message was
    /// changed; absent until then, when it is the id (most messages: left out of the fan-out).
    /// A client rejoins with `after` = the highest it has seen.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<String>,
    /// Members mentioned by `@name`, lowercase, and `room` for `@room`, in order; `[]` for none.
    pub mentions: Vec<String>,
    /// Present when the message came through a webhook: show `name` with a bot mark; `author`
    /// is the member who added the webhook.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookStampView>,
    /// The files sent with it; absent when there are none (and on a deleted message).
    #[oai(default, skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
    /// In an encrypted room: the AES-256-GCM ciphertext (base64) as the sender's browser made
    /// it; `body` is empty. Absent in plain rooms and on a deleted message.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// Its 12-byte IV, base64 (with `ciphertext`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    /// The room key version it was encrypted with (with `ciphertext`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u32>,
}

/// A file uploaded to a room (`POST /api/rooms/{id}/attachments`), sent with a message.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Attachment")]
pub struct AttachmentView {
    /// A ULID.
    pub id: String,
    /// The uploaded file's name, cleaned for display (no path, no control characters). Show it
    /// as text.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Detected from the file's bytes (the client's claim is ignored).
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Images: pixels, as displayed (EXIF orientation applied).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The path of a small JPEG preview (`/api/attachments/{id}/thumbnail`), for images that
    /// could be decoded within the server's limits.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

impl From<&crate::store::AttachmentMeta> for AttachmentView {
    fn from(meta: &crate::store::AttachmentMeta) -> Self {
        Self {
            id: meta.id.clone(),
            name: meta.name.clone(),
            size: meta.size,
            content_type: meta.content_type.clone(),
            sha256: meta.sha256.clone(),
            width: meta.width,
            height: meta.height,
            thumbnail: meta
                .thumbnail
                .then(|| format!("/api/attachments/{}/thumbnail", meta.id)),
        }
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "WebhookStamp")]
pub struct WebhookStampView {
    /// The webhook's id.
    pub id: String,
    /// Its name, or the name an incoming call gave (Slack's `username`).
    pub name: String,
}

/// Users listed per reaction; `count` stays exact beyond it.
pub const REACTION_USERS_SHOWN: usize = 20;

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Reaction")]
pub struct ReactionView {
    /// One emoji.
    pub emoji: String,
    pub count: u64,
    /// Who reacted, first first; at most 20.
    pub users: Vec<String>,
}

impl From<&Message> for MessageView {
    fn from(message: &Message) -> Self {
        Self {
            id: message.id.to_string(),
            room: message.room.to_string(),
            author: message.author.clone(),
            body: message.body.clone(),
            html: crate::chat::markdown::render_unless_plain(&message.body),
            sent_at: format_time(message.sent_at_ms),
            edited_at: message.edited_at_ms.map(format_time),
            deleted: message.deleted,
            reactions: message
                .reactions
                .iter()
                .map(|reaction| ReactionView {
                    emoji: reaction.emoji.clone(),
                    count: reaction.users.len() as u64,
                    users: reaction
                        .users
                        .iter()
                        .take(REACTION_USERS_SHOWN)
                        .cloned()
                        .collect(),
                })
                .collect(),
            reply_to: message.reply_to.map(|id| id.to_string()),
            seq: (message.seq != message.id.0)
                .then(|| crate::ids::MessageId(message.seq).to_string()),
            mentions: message.mentions.clone(),
            attachments: message
                .attachments
                .iter()
                .map(AttachmentView::from)
                .collect(),
            webhook: message.webhook.as_ref().map(|stamp| WebhookStampView {
                id: stamp.id.clone(),
                name: stamp.name.clone(),
            }),
            ciphertext: message.encrypted.as_ref().map(|e| e.ciphertext.clone()),
            iv: message.encrypted.as_ref().map(|e| e.iv.clone()),
            key_version: message.encrypted.as_ref().map(|e| e.key_version),
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
        assert_eq!(format_time(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_time(u64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn times_match_humantime_across_leap_days_centuries_and_the_whole_range() {
        let reference = |ms: u64| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_millis(at).to_string()
        };
        const DAY: u64 = 86_400_000;
        // Around 1972-02-29, 2000-02-29 (a leap century), 2100-03-01 (not one), 2400-02-29.
        let around = [789 * DAY, 11_016 * DAY, 47_541 * DAY, 157_113 * DAY];
        for at in around {
            for ms in (at - 3 * DAY..at + 3 * DAY).step_by(3_600_000 - 7) {
                assert_eq!(format_time(ms), reference(ms), "{ms}");
            }
        }
        // Every day of the first 2,000 years, at a different time of day each.
        for day in 0..730_500u64 {
            let ms = day * DAY + (day * 7_919_993) % DAY;
            assert_eq!(format_time(ms), reference(ms), "{ms}");
        }
        let last = 253_402_300_799_999;
        assert_eq!(format_time(last - DAY), reference(last - DAY));
    }
}
