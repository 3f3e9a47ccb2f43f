//! The values stored in sled, as JSON: readable when debugging, and tolerant of added fields.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::StoreError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    pub username: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    pub is_admin: bool,
    #[serde(default)]
    pub locked: bool,
    pub created_at_ms: u64,
    /// A bot account: it has no password (its `password_hash` is empty and never checked) and
    /// acts only through access tokens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_bot: bool,
    /// The person who may mint tokens for this bot (besides admins); `None` for bots without
    /// one, and for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub username: String,
    pub created_at_ms: u64,
    pub last_seen_ms: u64,
}

/// A personal access token. The secret itself is never stored, only its SHA-256 (the key), so
/// a stolen database or backup holds no usable token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public handle for listing and revoking: a ULID.
    pub id: String,
    /// The account it acts as.
    pub username: String,
    pub name: String,
    /// `read`, `write`, `admin`, in that order.
    pub scopes: Vec<String>,
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Written at most once a minute per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<u64>,
}

/// Who may see and read a room. Rooms stored before membership existed have no `kind` and are
/// public.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    #[default]
    Public,
    Private,
    Direct,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Direct => "direct",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    #[serde(default)]
    pub kind: RoomKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// Kept in step with `room_members` by every membership write, so listings need no scan.
    #[serde(default)]
    pub member_count: u64,
    /// End-to-end encrypted (private and direct rooms only; set at creation, never changed):
    /// messages carry `MessageRecord::encrypted` instead of a body.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// An encrypted room's current room key version: 1 at creation, one more each time a
    /// member leaves or is removed. 0 for plain rooms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub key_version: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }
}

/// One user's membership of one room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberRecord {
    pub role: Role,
    pub joined_at_ms: u64,
}

/// An invite link into a private room. The code itself is never stored, only its SHA-256 (the
/// key), so a stolen database or backup holds no usable invite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InviteRecord {
    /// Public handle for listing and revoking: the first 8 bytes of the code's hash, in hex.
    pub id: String,
    pub room: String,
    pub created_by: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    #[serde(default)]
    pub max_uses: Option<u32>,
    #[serde(default)]
    pub uses: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageRecord {
    pub author: String,
    pub body: String,
    pub sent_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The message this one answers, in the same room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// Set by the last edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at_ms: Option<u64>,
    /// A tombstone: body and reactions are erased, the id keeps its place.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// In the order each emoji was first used; users in the order they reacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionRecord>,
    /// The room sequence number of the last change (edit, deletion, reaction); `None` until the
    /// first. Changes take their numbers from the same sequence as new messages, so one cursor
    /// says what a client has seen of both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_seq: Option<u64>,
    /// Posted by a webhook (its author is the webhook's creator, who answers for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookStamp>,
    /// Its place among the room's messages (1, 2, 3, ...; changes do not count), so unread
    /// counts are a subtraction. `None` for messages stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u64>,
    /// Members mentioned (`@name`, lowercase) and `room` for `@room`, in order of appearance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// The files sent with it, as they were when sent (a deleted message has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentMeta>,
    /// In an encrypted room, the message as its sender's browser encrypted it (the body is
    /// empty); never decrypted here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<EncryptedBody>,
}

/// An end-to-end encrypted message body: opaque to the server, which checks only its shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EncryptedBody {
    /// AES-256-GCM ciphertext with its tag, base64.
    pub ciphertext: String,
    /// The 12-byte IV, base64.
    pub iv: String,
    /// The room key version it was encrypted with.
    pub key_version: u32,
}

/// A user's identity key for encrypted rooms: the public half, and the private half wrapped
/// by their browser under a key only their passphrase gives (never usable by the server).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityKeyRecord {
    /// The uncompressed P-256 point (65 bytes), base64.
    pub public_key: String,
    /// The PKCS#8 private key encrypted with AES-256-GCM, base64.
    pub wrapped_private_key: String,
    pub kdf: KdfRecord,
    pub created_at_ms: u64,
}

/// How the browser derives the key that wraps a private key from the passphrase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfRecord {
    /// `PBKDF2`.
    pub name: String,
    /// `SHA-256`.
    pub hash: String,
    pub iterations: u32,
    /// base64.
    pub salt: String,
    /// The AES-GCM IV of the wrapped private key, base64.
    pub iv: String,
}

/// One member's copy of one version of a room key, wrapped by another member's browser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomKeyRecord {
    /// base64.
    pub wrapped_key: String,
    /// base64 (12 bytes).
    pub iv: String,
    /// The member who wrapped it.
    pub wrapped_by: String,
    /// Their public key when they did (the member needs it to unwrap, and may verify it).
    pub wrapper_public_key: String,
    pub created_at_ms: u64,
}

/// What a message shows of a file it carries; the file itself is in the attachment files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachmentMeta {
    /// The attachment's id (a ULID).
    pub id: String,
    /// The name it was uploaded with, cleaned for display (never used as a path).
    pub name: String,
    pub size: u64,
    /// Detected from the bytes, never taken from the client.
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Whether a preview image was made (images only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumbnail: bool,
}

/// An uploaded file: whose, where, and the message it was sent with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachmentRecord {
    /// The room it was uploaded to (its id); it lives and dies with the room.
    pub room: String,
    pub uploader: String,
    pub created_at_ms: u64,
    /// The message it was sent with; `None` while unsent (an orphan after `orphan_ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<u64>,
    pub meta: AttachmentMeta,
}

/// How far one user has read one room.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReadMarkerRecord {
    /// The id (sequence number) of the last message read.
    pub message: u64,
    /// That message's ordinal: unread = the newest message's ordinal - this.
    pub ordinal: u64,
    /// How many messages up to it mention the user: unread mentions = the room's total for
    /// them - this (see `mentions`). Set by the store when the marker moves; absent in markers
    /// from before it was kept, and in backups (it is recounted on restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentions: Option<u64>,
}

/// A browser's Web Push subscription (the `PushSubscription` it gave us).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    pub endpoint: String,
    /// The browser's P-256 public key, 65 bytes uncompressed, base64url without padding.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url without padding.
    pub auth: String,
    pub created_at_ms: u64,
}

/// When one user wants to hear about one room.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NotificationLevel {
    All,
    Mentions,
    None,
}

impl NotificationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Mentions => "mentions",
            Self::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(Self::All),
            "mentions" => Some(Self::Mentions),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// The webhook a message came through, as shown with it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookStamp {
    pub id: String,
    pub name: String,
}

/// An incoming or outgoing webhook of a room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookRecord {
    /// A ULID.
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<u64>,
    #[serde(flatten)]
    pub kind: WebhookKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookKind {
    /// Posts into the room. Its secret is stored only as the key of `incoming_hooks` (hashed).
    Incoming,
    /// Called on the room's events.
    Outgoing {
        url: String,
        events: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        trigger_words: Vec<String>,
        /// The HMAC key of the signatures: kept as it is, since signing needs it.
        secret: String,
        /// The room sequence number up to which messages have been turned into deliveries:
        /// advanced in the same transaction that queues them, so a restart resumes exactly.
        cursor: u64,
    },
}

/// One event to deliver to one outgoing webhook, and how its delivery went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// A ULID, sent as `X-Confab-Delivery`.
    pub id: String,
    pub event: String,
    /// The message's sequence number in its room.
    pub message: u64,
    pub created_at_ms: u64,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The JSON body, fixed when the event happened, so every retry sends the same bytes.
    pub payload: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Retrying,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed)
    }
}

impl MessageRecord {
    /// A new message's record, with nothing changed yet.
    pub fn new(author: String, body: String, sent_at_ms: u64, nonce: Option<String>) -> Self {
        Self {
            author,
            body,
            sent_at_ms,
            nonce,
            reply_to: None,
            edited_at_ms: None,
            deleted: false,
            reactions: Vec::new(),
            changed_seq: None,
            webhook: None,
            ordinal: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
            encrypted: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReactionRecord {
    pub emoji: String,
    pub users: Vec<String>,
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt(format!("{what}: {err}")))
}
