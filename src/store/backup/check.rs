//! The grouping and ordering rules of a backup's lines, checked line by line with constant
//! state: what may follow what, in which order, and what each record must hold for restore to
//! take it.

use std::str::FromStr;

use super::attachments::PendingAttachment;
use super::encryption::{check_identity_key, check_room_key};
use super::format::{from_hex32, Counts, Line};
use super::read::Item;
use super::web_push::{check_subscription, decode_vapid_key};
use super::BackupError;
use crate::ids::{AttachmentId, RoomId};
use crate::store::push::endpoint_hash;
use crate::store::{
    keys, AttachmentRecord, PushSubscriptionRecord, WebhookId, WebhookKind, WebhookRecord,
};

pub(super) fn format_error(line: u64, reason: String) -> BackupError {
    BackupError::Format { line, reason }
}

/// The grouping and ordering rules, checked with constant state.
#[derive(Default)]
pub(super) struct Checker {
    /// The file's format version: member and invite lines exist from version 2 on, token
    /// lines from 3, webhook lines from 4, the VAPID key and push subscriptions from 5,
    /// attachments from 6, identity and room keys from 7.
    version: u64,
    /// Whether the file holds the VAPID key, which push subscriptions need.
    vapid_key: bool,
    counts: Counts,
    /// Set once the first room is seen: users and sessions come before every room.
    in_rooms: bool,
    /// Key of the last user, whose sessions may follow.
    user: Option<Vec<u8>>,
    /// Token hash of the last session of that user.
    session: Option<[u8; 32]>,
    /// Secret hash of the last access token of that user (they follow its sessions).
    token: Option<[u8; 32]>,
    /// Endpoint hash of the last push subscription of that user (they follow its tokens).
    push: Option<[u8; 32]>,
    /// Whether that user's identity key line came (the last of its lines).
    identity_key: bool,
    room: Option<OpenRoom>,
    /// The attachment whose bytes the next lines carry, until all of them have come.
    attachment: Option<PendingAttachment>,
}

struct OpenRoom {
    id: RoomId,
    last_seq: u64,
    /// Sequence number of its last message so far (0: none yet).
    seen: u64,
    /// Key of its last member so far.
    member: Option<Vec<u8>>,
    /// Code hash of its last invite so far.
    invite: Option<[u8; 32]>,
    /// Id of its last webhook so far.
    webhook: Option<WebhookId>,
    /// Id of its last attachment so far.
    attachment: Option<AttachmentId>,
    /// End-to-end encrypted, with its current key version.
    encrypted: bool,
    key_version: u32,
    /// Member key and version of its last room key so far.
    room_key: Option<(Vec<u8>, u32)>,
}

impl OpenRoom {
    /// The room's lines come in groups: members, then invites, then webhooks, then messages,
    /// then attachments.
    fn phase(&self) -> u8 {
        if self.attachment.is_some() {
            5
        } else if self.seen > 0 {
            4
        } else if self.webhook.is_some() {
            3
        } else if self.invite.is_some() {
            2
        } else {
            u8::from(self.member.is_some())
        }
    }
}

impl Checker {
    pub fn new(version: u64) -> Self {
        Self {
            version,
            ..Self::default()
        }
    }

    /// What the lines checked so far hold.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Why the file cannot end here: the bytes of an attachment are still to come.
    pub fn unfinished_attachment(&self) -> Option<String> {
        self.attachment.as_ref().map(PendingAttachment::cut_short)
    }

    /// Checks one line (not the trailer) and returns what it holds.
    pub fn check(&mut self, line: Line, line_no: u64) -> Result<Item, BackupError> {
        let fail = |reason: String| format_error(line_no, reason);
        if let Some(pending) = &mut self.attachment {
            return match line {
                Line::AttachmentData { data } => pending.data(&data).map(Item::AttachmentData),
                Line::AttachmentThumbnail { data } => {
                    pending.thumbnail(&data).map(Item::AttachmentThumbnail)
                }
                _ => Err(pending.cut_short()),
            }
            .map_err(fail);
        }
        match line {
            Line::VapidKey { secret_key } => {
                if self.version < 5 || self.vapid_key || self.counts.users > 0 || self.in_rooms {
                    return Err(fail(
                        "a VAPID key line out of place (one, right after the header; version 5 and later)".into(),
                    ));
                }
                let key = decode_vapid_key(&secret_key).map_err(fail)?;
                self.vapid_key = true;
                Ok(Item::VapidKey(key))
            }
            Line::User { record } => {
                if self.in_rooms {
                    return Err(fail("a user after the rooms".into()));
                }
                check_name(&record.username, "username").map_err(fail)?;
                let key = keys::user(&record.username);
                if self.user.as_ref().is_some_and(|last| *last >= key) {
                    return Err(fail("users out of order or repeated".into()));
                }
                self.user = Some(key);
                self.session = None;
                self.token = None;
                self.push = None;
                self.identity_key = false;
                self.counts.users += 1;
                Ok(Item::User(record))
            }
            Line::Session {
                token_sha256,
                record,
            } => {
                let owner = keys::user(&record.username);
                if self.in_rooms || self.user.as_ref() != Some(&owner) {
                    return Err(fail(format!(
                        "a session of {:?} that does not follow its user",
                        record.username
                    )));
                }
                let hash = from_hex32(&token_sha256)
                    .ok_or_else(|| fail("token_sha256 is not 64 lowercase hex digits".into()))?;
                if self.session.is_some_and(|last| last >= hash) {
                    return Err(fail("sessions out of order or repeated".into()));
                }
                if self.token.is_some() {
                    return Err(fail("a session after its user's access tokens".into()));
                }
                if self.push.is_some() {
                    return Err(fail("a session after its user's push subscriptions".into()));
                }
                self.session = Some(hash);
                self.counts.sessions += 1;
                Ok(Item::Session(hash, record))
            }
            Line::Token {
                token_sha256,
                record,
            } => {
                let owner = keys::user(&record.username);
                if self.version < 3 || self.in_rooms || self.user.as_ref() != Some(&owner) {
                    return Err(fail(format!(
                        "an access token of {:?} that does not follow its user (version 3 and later)",
                        record.username
                    )));
                }
                let hash = from_hex32(&token_sha256)
                    .ok_or_else(|| fail("token_sha256 is not 64 lowercase hex digits".into()))?;
                if self.token.is_some_and(|last| last >= hash) {
                    return Err(fail("access tokens out of order or repeated".into()));
                }
                if self.push.is_some() {
                    return Err(fail(
                        "an access token after its user's push subscriptions".into(),
                    ));
                }
                // The id is part of the per-user index key that restore rebuilds.
                if record.id.parse::<ulid::Ulid>().is_err() {
                    return Err(fail("an access token whose id is not a ULID".into()));
                }
                self.token = Some(hash);
                self.counts.tokens += 1;
                Ok(Item::Token(hash, record))
            }
            Line::PushSubscription { username, record } => {
                if self.identity_key {
                    return Err(fail(
                        "a push subscription after its user's identity key".into(),
                    ));
                }
                self.check_push_subscription(username, record, line_no)
            }
            Line::IdentityKey { username, record } => {
                let owner = keys::user(&username);
                if self.version < 7
                    || self.in_rooms
                    || self.identity_key
                    || self.user.as_ref() != Some(&owner)
                {
                    return Err(fail(format!(
                        "an identity key of {username:?} that does not follow its user's lines, or a second one (version 7 and later)"
                    )));
                }
                check_identity_key(&record).map_err(fail)?;
                self.identity_key = true;
                self.counts.identity_keys += 1;
                Ok(Item::IdentityKey(username.to_ascii_lowercase(), record))
            }
            Line::RoomKey {
                room,
                username,
                key_version,
                record,
            } => {
                let version = self.version;
                let open = self.open_room(&room, "a room key", line_no)?;
                let member = keys::user(&username);
                if version < 7 || open.phase() != 1 || open.member.as_ref() != Some(&member) {
                    return Err(fail(
                        "a room key line out of place (room keys follow their member's line; version 7 and later)".into(),
                    ));
                }
                if !open.encrypted || key_version == 0 || key_version > open.key_version {
                    return Err(fail(format!(
                        "a room key of version {key_version} in a room whose key version is {} (encrypted: {})",
                        open.key_version, open.encrypted
                    )));
                }
                if open
                    .room_key
                    .as_ref()
                    .is_some_and(|(last, v)| *last == member && *v >= key_version)
                {
                    return Err(fail("room keys out of order or repeated".into()));
                }
                check_room_key(&record).map_err(fail)?;
                open.room_key = Some((member, key_version));
                let id = open.id;
                self.counts.room_keys += 1;
                Ok(Item::RoomKey(
                    id,
                    username.to_ascii_lowercase(),
                    key_version,
                    record,
                ))
            }
            Line::Room {
                id,
                last_seq,
                record,
            } => {
                self.in_rooms = true;
                let room = RoomId::from_str(&id).map_err(|_| fail("bad room id".into()))?;
                if RoomId::from_str(&record.id).ok() != Some(room) {
                    return Err(fail(
                        "the room record's id differs from the line's id".into(),
                    ));
                }
                if self.room.as_ref().is_some_and(|last| last.id >= room) {
                    return Err(fail("rooms out of order or repeated".into()));
                }
                if record.encrypted
                    && (self.version < 7
                        || record.kind == crate::store::RoomKind::Public
                        || record.key_version == 0)
                {
                    return Err(fail(
                        "an encrypted room that is public or without a key version (version 7 and later)".into(),
                    ));
                }
                self.room = Some(OpenRoom {
                    id: room,
                    last_seq,
                    seen: 0,
                    member: None,
                    invite: None,
                    webhook: None,
                    attachment: None,
                    encrypted: record.encrypted,
                    key_version: record.key_version,
                    room_key: None,
                });
                self.counts.rooms += 1;
                Ok(Item::Room(room, record))
            }
            Line::Member {
                room,
                username,
                record,
                read_marker,
                notifications,
            } => {
                let version = self.version;
                let open = self.open_room(&room, "a member", line_no)?;
                if version < 2 || open.phase() > 1 {
                    return Err(fail(
                        "a member line out of place (members follow their room, before its invites and messages; version 2 and later)".into(),
                    ));
                }
                if version < 4 && (read_marker.is_some() || notifications.is_some()) {
                    return Err(fail(
                        "read_marker and notifications are version 4 and later".into(),
                    ));
                }
                if let Some(marker) = &read_marker {
                    if marker.message > open.last_seq || marker.ordinal > marker.message {
                        return Err(fail(format!(
                            "read_marker {} is past the room's last message {}",
                            marker.message, open.last_seq
                        )));
                    }
                }
                check_name(&username, "username").map_err(fail)?;
                let key = keys::user(&username);
                if open.member.as_ref().is_some_and(|last| *last >= key) {
                    return Err(fail("members out of order or repeated".into()));
                }
                open.member = Some(key);
                let id = open.id;
                self.counts.members += 1;
                Ok(Item::Member {
                    room: id,
                    username: username.to_ascii_lowercase(),
                    record,
                    read_marker,
                    notifications,
                })
            }
            Line::Invite {
                room,
                code_sha256,
                record,
            } => {
                let version = self.version;
                let open = self.open_room(&room, "an invite", line_no)?;
                if version < 2 || open.phase() > 2 {
                    return Err(fail(
                        "an invite line out of place (invites follow their room's members, before its messages; version 2 and later)".into(),
                    ));
                }
                let hash = from_hex32(&code_sha256)
                    .ok_or_else(|| fail("code_sha256 is not 64 lowercase hex digits".into()))?;
                if open.invite.is_some_and(|last| last >= hash) {
                    return Err(fail("invites out of order or repeated".into()));
                }
                if RoomId::from_str(&record.room).ok() != Some(open.id) {
                    return Err(fail("an invite whose record names another room".into()));
                }
                open.invite = Some(hash);
                let id = open.id;
                self.counts.invites += 1;
                Ok(Item::Invite(id, hash, record))
            }
            Line::Webhook {
                room,
                id,
                secret_sha256,
                record,
            } => self.check_webhook(&room, &id, secret_sha256.as_deref(), record, line_no),
            Line::Message { room, seq, record } => {
                let room = RoomId::from_str(&room).map_err(|_| fail("bad room id".into()))?;
                let open = match self.room.as_mut() {
                    Some(open) if open.id == room => open,
                    _ => {
                        return Err(fail(format!(
                            "a message of room {room}, which is not in the file before it"
                        )))
                    }
                };
                if open.attachment.is_some() {
                    return Err(fail("a message after its room's attachments".into()));
                }
                if seq <= open.seen || seq > open.last_seq {
                    return Err(fail(format!(
                        "message {seq} out of order or beyond the room's last_seq {}",
                        open.last_seq
                    )));
                }
                check_name(&record.author, "author").map_err(fail)?;
                if let Some(nonce) = &record.nonce {
                    check_name(nonce, "nonce").map_err(fail)?;
                }
                if self.version < 6 && !record.attachments.is_empty() {
                    return Err(fail(
                        "a message with attachments (version 6 and later)".into(),
                    ));
                }
                if let Some(sealed) = &record.encrypted {
                    if !open.encrypted || sealed.key_version > open.key_version {
                        return Err(fail(format!(
                            "an encrypted message of key version {} in a room whose key version is {} (encrypted: {})",
                            sealed.key_version, open.key_version, open.encrypted
                        )));
                    }
                }
                open.seen = seq;
                self.counts.messages += 1;
                Ok(Item::Message(room, seq, record))
            }
            Line::Attachment {
                room,
                id,
                thumbnail_size,
                record,
            } => self.check_attachment(&room, &id, thumbnail_size, record, line_no),
            Line::AttachmentData { .. } | Line::AttachmentThumbnail { .. } => Err(fail(
                "attachment bytes without an attachment line before them, or beyond its size"
                    .into(),
            )),
            Line::End { .. } => Err(fail("unexpected trailer".into())),
        }
    }

    /// An attachment line: after its room's messages, by id (its key in the store), sent with
    /// none of them or with one up to the room's `last_seq`; the lines after it must carry
    /// exactly its bytes (see `PendingAttachment`).
    fn check_attachment(
        &mut self,
        room: &str,
        id: &str,
        thumbnail_size: Option<u64>,
        record: AttachmentRecord,
        line_no: u64,
    ) -> Result<Item, BackupError> {
        let fail = |reason: String| format_error(line_no, reason);
        let version = self.version;
        let open = self.open_room(room, "an attachment", line_no)?;
        if version < 6 {
            return Err(fail(
                "an attachment line (attachments follow their room's messages; version 6 and later)"
                    .into(),
            ));
        }
        let pending = PendingAttachment::start(open.id, open.last_seq, id, thumbnail_size, &record)
            .map_err(fail)?;
        if open.attachment.is_some_and(|last| last >= pending.id()) {
            return Err(fail("attachments out of order or repeated".into()));
        }
        open.attachment = Some(pending.id());
        let (room, id) = (open.id, pending.id());
        self.attachment = Some(pending);
        self.counts.attachments += 1;
        Ok(Item::Attachment(room, id, record))
    }

    /// Whether the attachment whose bytes were being read has all of them now; it is closed
    /// then. An attachment of no bytes (and no preview) is complete as soon as its line is read.
    pub fn attachment_complete(&mut self) -> bool {
        if self
            .attachment
            .as_ref()
            .is_some_and(PendingAttachment::is_complete)
        {
            self.attachment = None;
            return true;
        }
        false
    }

    /// A push subscription line: it follows its user's sessions and tokens, in a file that holds
    /// the VAPID key it is bound to, ordered by the SHA-256 of its endpoint, which is computed
    /// here (the store's key), never taken from the file.
    fn check_push_subscription(
        &mut self,
        username: String,
        record: PushSubscriptionRecord,
        line_no: u64,
    ) -> Result<Item, BackupError> {
        let fail = |reason: String| format_error(line_no, reason);
        let owner = keys::user(&username);
        if self.version < 5 || self.in_rooms || self.user.as_ref() != Some(&owner) {
            return Err(fail(format!(
                "a push subscription of {username:?} that does not follow its user (version 5 and later)"
            )));
        }
        if !self.vapid_key {
            return Err(fail(
                "a push subscription in a file without the VAPID key it is bound to".into(),
            ));
        }
        check_subscription(&record).map_err(fail)?;
        let hash = endpoint_hash(&record.endpoint);
        if self.push.is_some_and(|last| last >= hash) {
            return Err(fail(
                "push subscriptions out of order (by the SHA-256 of their endpoint) or repeated"
                    .into(),
            ));
        }
        self.push = Some(hash);
        self.counts.push_subscriptions += 1;
        Ok(Item::PushSubscription(
            username.to_ascii_lowercase(),
            hash,
            record,
        ))
    }

    /// A webhook line: it follows its room's invites, by id (the key restore stores it under),
    /// with a secret hash exactly when it is incoming (restore indexes it by that hash), and an
    /// outgoing cursor within the room (the writer keeps it there; one beyond the room's last
    /// sequence number would make the restored room's next messages go unsent).
    fn check_webhook(
        &mut self,
        room: &str,
        id: &str,
        secret_sha256: Option<&str>,
        record: WebhookRecord,
        line_no: u64,
    ) -> Result<Item, BackupError> {
        let fail = |reason: String| format_error(line_no, reason);
        let version = self.version;
        let open = self.open_room(room, "a webhook", line_no)?;
        if version < 4 || open.phase() > 3 {
            return Err(fail(
                "a webhook line out of place (webhooks follow their room's invites, before its messages; version 4 and later)".into(),
            ));
        }
        let hook = id
            .parse::<ulid::Ulid>()
            .map_err(|_| fail("a webhook whose id is not a ULID".into()))?
            .to_bytes();
        if record.id != id {
            return Err(fail(
                "the webhook record's id differs from the line's id".into(),
            ));
        }
        if open.webhook.is_some_and(|last| last >= hook) {
            return Err(fail("webhooks out of order or repeated".into()));
        }
        check_name(&record.created_by, "webhook creator").map_err(fail)?;
        let hash = match (&record.kind, secret_sha256) {
            (WebhookKind::Incoming, Some(hex)) => Some(
                from_hex32(hex)
                    .ok_or_else(|| fail("secret_sha256 is not 64 lowercase hex digits".into()))?,
            ),
            (WebhookKind::Incoming, None) => {
                return Err(fail("an incoming webhook without its secret_sha256".into()))
            }
            (WebhookKind::Outgoing { .. }, Some(_)) => {
                return Err(fail(
                    "an outgoing webhook with a secret_sha256 (only incoming ones have one)".into(),
                ))
            }
            (WebhookKind::Outgoing { cursor, .. }, None) => {
                if *cursor > open.last_seq {
                    return Err(fail(format!(
                        "an outgoing webhook whose cursor {cursor} is beyond its room's last_seq {}",
                        open.last_seq
                    )));
                }
                None
            }
        };
        open.webhook = Some(hook);
        let room = open.id;
        self.counts.webhooks += 1;
        Ok(Item::Webhook(room, hook, hash, record))
    }

    /// The room a member, invite or webhook line belongs to: the room line just before its
    /// group.
    fn open_room(
        &mut self,
        room: &str,
        what: &str,
        line_no: u64,
    ) -> Result<&mut OpenRoom, BackupError> {
        let fail = |reason: String| format_error(line_no, reason);
        let room = RoomId::from_str(room).map_err(|_| fail("bad room id".into()))?;
        match self.room.as_mut() {
            Some(open) if open.id == room => Ok(open),
            _ => Err(fail(format!(
                "{what} of room {room}, which is not in the file before it"
            ))),
        }
    }
}

/// Names end up inside composite keys separated by 0x00 (see `keys`), so they must not hold one.
fn check_name(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() || value.contains('\0') {
        return Err(format!("empty {what} or one holding a NUL character"));
    }
    Ok(())
}
