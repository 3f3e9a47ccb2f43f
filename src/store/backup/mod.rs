//! Backups: one engine-independent, versioned, checksummed file holding the whole database, taken
//! while chat goes on and restored into an empty store.
//!
//! # The file (version 7)
//!
//! UTF-8 text, one JSON object per line, every line ending in `\n` and at most
//! [`format::MAX_LINE_BYTES`] (1 MiB) long (without its `\n`):
//!
//! ```text
//! {"format":"confab-backup","version":7,"created_at_ms":1767225600000,"confab_version":"0.1.0","sessions_included":true}
//! {"type":"vapid_key","secret_key":"<43 base64url characters: 32 bytes>"}
//! {"type":"user","record":{"username":"alice","password_hash":"$argon2id$v=19$...","is_admin":true,"locked":false,"created_at_ms":...}}
//! {"type":"session","token_sha256":"<64 hex digits>","record":{"username":"alice","created_at_ms":...,"last_seen_ms":...}}
//! {"type":"token","token_sha256":"<64 hex digits>","record":{"id":"01J...","username":"alice","name":"ci","scopes":["read","write"],"created_at_ms":...}}
//! {"type":"push_subscription","username":"alice","record":{"endpoint":"https://push.example/...","p256dh":"<base64url>","auth":"<base64url>","created_at_ms":...}}
//! {"type":"identity_key","username":"alice","record":{"public_key":"<base64: 65 bytes>","wrapped_private_key":"<base64>","kdf":{"name":"PBKDF2","hash":"SHA-256","iterations":600000,"salt":"<base64>","iv":"<base64>"},"created_at_ms":...}}
//! {"type":"user","record":{"username":"deploy-bot","password_hash":"","is_admin":false,"locked":false,"created_at_ms":...,"is_bot":true,"bot_owner":"alice"}}
//! {"type":"room","id":"01J...","last_seq":2,"record":{"id":"01J...","name":"general","created_by":"alice","created_at_ms":...,"expires_at_ms":...,"kind":"private","member_count":1}}
//! {"type":"member","room":"01J...","username":"alice","record":{"role":"owner","joined_at_ms":...}}
//! {"type":"room_key","room":"01J...","username":"alice","key_version":1,"record":{"wrapped_key":"<base64>","iv":"<base64>","wrapped_by":"alice","wrapper_public_key":"<base64>","created_at_ms":...}}
//! {"type":"invite","room":"01J...","code_sha256":"<64 hex digits>","record":{"id":"...","room":"01J...","created_by":"alice",...}}
//! {"type":"webhook","room":"01J...","id":"01K...","secret_sha256":"<64 hex digits>","record":{"id":"01K...","name":"alerts","created_by":"alice","created_at_ms":...,"kind":"incoming"}}
//! {"type":"webhook","room":"01J...","id":"01K...","record":{"id":"01K...","name":"ci","created_by":"alice","created_at_ms":...,"kind":"outgoing","url":"https://...","events":["message"],"trigger_words":["!deploy"],"secret":"...","cursor":1}}
//! {"type":"message","room":"01J...","seq":1,"record":{"author":"alice","body":"hi","sent_at_ms":...,"nonce":"n-1"}}
//! {"type":"message","room":"01J...","seq":2,"record":{"author":"alice","body":"build failed","sent_at_ms":...,"webhook":{"id":"01K...","name":"alerts"}}}
//! {"type":"message","room":"01J...","seq":3,"record":{"author":"alice","body":"","sent_at_ms":...,"attachments":[{"id":"01M...","name":"shot.png","size":70000,"content_type":"image/png","sha256":"<64 hex digits>","width":800,"height":600,"thumbnail":true}]}}
//! {"type":"attachment","room":"01J...","id":"01M...","thumbnail_size":5120,"record":{"room":"01J...","uploader":"alice","created_at_ms":...,"message":3,"meta":{"id":"01M...","name":"shot.png","size":70000,...,"thumbnail":true}}}
//! {"type":"attachment_data","data":"<base64url of bytes 0..49152>"}
//! {"type":"attachment_data","data":"<base64url of bytes 49152..70000>"}
//! {"type":"attachment_thumbnail","data":"<base64url of the preview's 5120 bytes>"}
//! {"type":"end","counts":{"users":2,"sessions":1,"rooms":1,"messages":3,"members":1,"invites":1,"tokens":1,"webhooks":2,"push_subscriptions":1,"attachments":1,"identity_keys":1,"room_keys":1},"sha256":"<64 hex digits>"}
//! ```
//!
//! - Line 1 is the header. Then the server's VAPID key, if it had made one; then every user, by
//!   lowercase name, each followed by its sessions (by token hash), then its access tokens (by
//!   secret hash), then its Web Push subscriptions (by the SHA-256 of their endpoint, which is
//!   their key in the store; the reader computes it, the file does not hold it), then its
//!   identity key for encrypted rooms; then every room, by id, each followed by its members
//!   (by username, each followed by its wrapped room keys by version), its invites (by code hash), its
//!   webhooks (by id), its messages by sequence number, none above the room's `last_seq`
//!   (its last sequence number when the backup was taken), and its attachments (by id), each
//!   followed at once by its bytes. Numbers may have holes: the store takes back a message
//!   whose flush failed.
//! - The trailer is the last line; `sha256` covers every byte before it, newlines included.
//! - Derived indexes are not stored; restore rebuilds them: `user_sessions` from sessions,
//!   `user_tokens` and `token_expiry` from tokens,
//!   `room_names`, `room_expiry` and `public_rooms` from rooms, `user_rooms`, `direct_rooms` and
//!   each room's `member_count` from members, `room_invites` from invites, `nonces` from each
//!   message's `nonce`. Incoming webhooks carry the hash of their secret (`secret_sha256`, only
//!   they): restore puts them back in both `webhooks` and `incoming_hooks`.
//! - Outgoing webhooks' deliveries (`deliveries`, `delivery_queue`) are transient and left out.
//!   An outgoing webhook's record keeps its `cursor`, the last message already turned into
//!   deliveries (never beyond its room's `last_seq` in the file), so after a restore older
//!   messages are not sent again; deliveries still queued or retrying when the backup was
//!   taken are dropped. Its signing `secret` is in its record, as the server keeps it.
//! - The VAPID key is the server's Web Push signing key (a P-256 secret scalar, base64url
//!   without padding), kept so that browsers' subscriptions, bound to its public key, survive a
//!   restore; the reader refuses one that is not 32 bytes or not a P-256 secret key, and push
//!   subscriptions in a file without one. Restore leaves the file's key, or none when the file
//!   has none (the server makes one at start). A subscription must have an endpoint of 1 to
//!   2048 bytes, a `p256dh` that is an uncompressed P-256 point (65 bytes) and a 16-byte `auth`,
//!   both base64url without padding, as the server requires when a browser subscribes.
//! - An attachment line holds the store's `AttachmentRecord` (its `meta` is what messages
//!   show: name, size, type, SHA-256 of the bytes, preview flag). Every uploaded file of the
//!   room is there, sent (`message`, never above the room's `last_seq`: one sent during the
//!   backup is written as unsent) or not. Its `meta.size` bytes follow in `attachment_data`
//!   lines, then, only when `meta.thumbnail` is set, `thumbnail_size` bytes of its preview in
//!   `attachment_thumbnail` lines; both base64url without padding, 48 KiB of bytes a line (any
//!   non-empty split is read). The reader checks each file's size and SHA-256 as its lines go
//!   by, and a preview's size (at most 1 MiB), so `verify` vouches for every byte; restore
//!   writes each file under the store's `incoming/` as it arrives and moves it into place,
//!   with its record and the `room_attachments` and `user_attachments` indexes, once it is
//!   whole and matches. A file missing or damaged on disk when the backup is taken is left out
//!   with a warning (with its record); messages still name it, as they did in the store.
//! - Version 1 (before membership) had no member or invite lines and no `kind`: its rooms are
//!   restored as public rooms whose members are their creator (owner) and their authors.
//!   Version 2 had no token lines and no bots: its users restore as people. Version 3 had no
//!   webhook lines (nor the `webhook` stamp of messages posted through one). Version 4 had no
//!   VAPID key and no push subscription lines: after its restore there are neither, and the
//!   server makes a new key at start. Version 5 had no attachments (nor the `attachments` of
//!   messages).
//! - Access tokens are always included (only their hashes, like sessions): they are
//!   credentials set up on purpose, for CI jobs and bots, which a restore must not break.
//!   Sessions are included only when asked for. The VAPID key and push subscriptions are
//!   always included: without them every browser would have to subscribe again.
//! - Each `record` is the store's own value type (`UserRecord`, ...). Unknown fields in the
//!   header, the line envelopes and the trailer are rejected; the record types, though, ignore
//!   unknown fields (the store tolerates added fields), so adding a field to a record type
//!   must come with a new `version`, or older readers would restore without it.
//!
//! The grouping (sessions, tokens and subscriptions after their user, messages and attachments
//! after their room, an attachment's bytes right after it, keys strictly increasing) lets a
//! reader check the whole file in one pass with constant memory, however hostile the file.

mod attachments;
mod check;
mod encryption;
mod format;
mod read;
mod restore;
mod web_push;
mod write;

#[cfg(test)]
mod tests;

use super::StoreError;

/// What to put in a backup beyond users, rooms and messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupOptions {
    /// Login sessions (token hashes): restoring them keeps everyone logged in. Leave them out to
    /// make every user log in again, or when the file travels somewhere less trusted.
    pub include_sessions: bool,
}

/// How much a backup holds, and its size in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupStats {
    pub users: u64,
    pub sessions: u64,
    pub rooms: u64,
    pub messages: u64,
    pub members: u64,
    pub invites: u64,
    pub tokens: u64,
    pub webhooks: u64,
    pub push_subscriptions: u64,
    pub attachments: u64,
    pub identity_keys: u64,
    pub room_keys: u64,
    pub bytes: u64,
}

/// Why a backup could not be written, verified or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup file I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a valid confab backup: line {line}: {reason}")]
    Format { line: u64, reason: String },
    #[error("the backup is truncated: it ends before its trailer line (interrupted while being written or copied?)")]
    Truncated,
    #[error("the backup is corrupt: its checksum does not match its contents")]
    Checksum,
    #[error("backup format version {0} is not supported (this confab reads version {v})", v = format::VERSION)]
    UnsupportedVersion(u64),
    #[error("refusing to restore into a database that already holds data; restore into an empty data directory")]
    NotEmpty,
    /// The caller's guarantee that rooms are not deleted during a backup was broken.
    #[error("room {room} was deleted or changed while the backup was being taken; the backup is incomplete, take it again")]
    RoomChanged { room: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for BackupError {
    fn from(err: sled::Error) -> Self {
        Self::Store(StoreError::Sled(err))
    }
}
