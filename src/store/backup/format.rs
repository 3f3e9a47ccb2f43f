//! The bytes of a backup file: its line types, and a line reader and writer that keep the
//! running SHA-256 the trailer is checked against.

use std::io::{self, BufRead, BufWriter, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BackupError, BackupStats};
use crate::store::{
    AttachmentRecord, IdentityKeyRecord, InviteRecord, MemberRecord, MessageRecord,
    NotificationLevel, PushSubscriptionRecord, ReadMarkerRecord, RoomKeyRecord, RoomRecord,
    SessionRecord, StoreError, TokenRecord, UserRecord, WebhookRecord,
};

pub(super) const FORMAT: &str = "confab-backup";
/// The version this confab writes. Older ones are still read; what each lacks:
/// - 1: membership (member and invite lines, room `kind`): its rooms become public rooms whose
///   members are their creator and authors;
/// - 2: access tokens (token lines) and bots (`is_bot`, `bot_owner` in user records);
/// - 3: webhooks (webhook lines, and the `webhook` stamp of messages they posted);
/// - 4: Web Push (the VAPID key line and push subscription lines);
/// - 5: attachments (attachment lines with their bytes, and the `attachments` of messages);
/// - 6: end-to-end encrypted rooms (identity key and room key lines, the rooms' `encrypted`
///   and `key_version`, and the messages' `encrypted` bodies).
pub(super) const VERSION: u64 = 7;
/// The oldest version this confab reads.
pub(super) const OLDEST_READABLE: u64 = 1;

/// Longest line a reader accepts, without its `\n`. Records are far smaller (a message body is
/// at most 100,000 characters, under 600 KB even with every character escaped), so this only
/// bounds what a hostile or foreign file can make a reader buffer.
pub(super) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Bytes of an attachment (or its preview) per data line: 64 KiB once in base64, far below
/// the line limit, and a multiple of 3, so only a run's last line can end in a partial group.
pub(super) const ATTACHMENT_CHUNK: usize = 48 * 1024;

/// Largest attachment preview a file may hold. The server's previews are JPEGs of at most
/// 320 x 320 pixels (tens of KiB); restore holds one whole in memory before it writes it.
pub(super) const MAX_THUMBNAIL_BYTES: u64 = 1024 * 1024;

/// Progress is reported about this often, in bytes, rather than per line.
const PROGRESS_STEP: u64 = 256 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    pub format: String,
    pub version: u64,
    pub created_at_ms: u64,
    pub confab_version: String,
    pub sessions_included: bool,
}

/// Just enough of a header to tell a foreign file or a newer version from a damaged one.
#[derive(Deserialize)]
pub(super) struct HeaderProbe {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
}

/// Every line after the header.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum Line {
    /// Version 5: the server's VAPID signing key (a P-256 secret scalar, 32 bytes, base64url
    /// without padding), right after the header, when the store had one. Browsers' push
    /// subscriptions are bound to its public key: a restore without it would break them all.
    VapidKey {
        secret_key: String,
    },
    User {
        record: UserRecord,
    },
    Session {
        token_sha256: String,
        record: SessionRecord,
    },
    /// Version 3: a personal access token of the user before it, by secret hash (the secret is
    /// never stored).
    Token {
        token_sha256: String,
        record: TokenRecord,
    },
    /// Version 5: a Web Push subscription of the user before it. Its key in the store (the
    /// SHA-256 of its endpoint) is not in the file: the reader computes it.
    PushSubscription {
        username: String,
        record: PushSubscriptionRecord,
    },
    /// Version 7: the identity key of the user before it (after its push subscriptions): the
    /// public key, and the private key as the user's browser wrapped it.
    IdentityKey {
        username: String,
        record: IdentityKeyRecord,
    },
    Room {
        id: String,
        last_seq: u64,
        record: RoomRecord,
    },
    /// Version 7: a wrapped room key of the member before it (right after its member line), by
    /// version, oldest first.
    RoomKey {
        room: String,
        username: String,
        key_version: u32,
        record: RoomKeyRecord,
    },
    /// Version 2: a member of the room before it, by username.
    Member {
        room: String,
        username: String,
        record: MemberRecord,
        /// Version 4: how far they have read the room (absent: nothing yet).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read_marker: Option<ReadMarkerRecord>,
        /// Version 4: their notification level, when they chose one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notifications: Option<NotificationLevel>,
    },
    /// Version 2: an invite into the room before it, by code hash (the code is never stored).
    Invite {
        room: String,
        code_sha256: String,
        record: InviteRecord,
    },
    /// Version 4: a webhook of the room before it, by id. An incoming webhook comes with the
    /// hash of its secret (the secret is never stored), which restore indexes it by; an
    /// outgoing one has none (its signing secret is in its record).
    Webhook {
        room: String,
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_sha256: Option<String>,
        record: WebhookRecord,
    },
    Message {
        room: String,
        seq: u64,
        record: MessageRecord,
    },
    /// Version 6: an uploaded file of the room before it, by id, after the room's messages. Its
    /// bytes follow at once: `record.meta.size` bytes in `attachment_data` lines, then, when
    /// `record.meta.thumbnail` is set, `thumbnail_size` bytes of its preview in
    /// `attachment_thumbnail` lines.
    Attachment {
        room: String,
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumbnail_size: Option<u64>,
        record: AttachmentRecord,
    },
    /// Version 6: the next bytes of the attachment before it (base64url without padding, at
    /// most [`ATTACHMENT_CHUNK`] bytes a line).
    AttachmentData {
        data: String,
    },
    /// Version 6: the next bytes of the preview of the attachment before it, after all of its
    /// data lines (the same encoding).
    AttachmentThumbnail {
        data: String,
    },
    End {
        counts: Counts,
        sha256: String,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Counts {
    pub users: u64,
    pub sessions: u64,
    pub rooms: u64,
    pub messages: u64,
    /// Absent in version 1 trailers.
    #[serde(default)]
    pub members: u64,
    #[serde(default)]
    pub invites: u64,
    /// Absent before version 3.
    #[serde(default)]
    pub tokens: u64,
    /// Absent before version 4.
    #[serde(default)]
    pub webhooks: u64,
    /// Absent before version 5.
    #[serde(default)]
    pub push_subscriptions: u64,
    /// Absent before version 6.
    #[serde(default)]
    pub attachments: u64,
    /// Absent before version 7.
    #[serde(default)]
    pub identity_keys: u64,
    #[serde(default)]
    pub room_keys: u64,
}

impl Counts {
    pub fn stats(self, bytes: u64) -> BackupStats {
        BackupStats {
            users: self.users,
            sessions: self.sessions,
            rooms: self.rooms,
            messages: self.messages,
            members: self.members,
            invites: self.invites,
            tokens: self.tokens,
            webhooks: self.webhooks,
            push_subscriptions: self.push_subscriptions,
            attachments: self.attachments,
            identity_keys: self.identity_keys,
            room_keys: self.room_keys,
            bytes,
        }
    }
}

pub(super) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Parses exactly 64 lowercase hex digits.
pub(super) fn from_hex32(text: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Calls the caller's progress callback every [`PROGRESS_STEP`] bytes, and once at the end.
pub(super) struct Progress<'a> {
    report: &'a mut dyn FnMut(u64),
    next_at: u64,
}

impl<'a> Progress<'a> {
    pub fn new(report: &'a mut dyn FnMut(u64)) -> Self {
        Self { report, next_at: 0 }
    }

    pub fn update(&mut self, bytes: u64) {
        if bytes >= self.next_at {
            (self.report)(bytes);
            self.next_at = bytes.saturating_add(PROGRESS_STEP);
        }
    }

    pub fn finish(&mut self, bytes: u64) {
        (self.report)(bytes);
    }
}

/// What [`LineReader::next`] found.
pub(super) enum Next<'a> {
    /// A whole line, without its `\n`.
    Line(&'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`]; it was skipped (and hashed) without buffering it.
    Overlong,
    /// The file ends inside a line: these are its first bytes (at most the line limit).
    Unterminated(&'a [u8]),
    Eof,
}

/// Reads lines with bounded memory and hashes every byte of every line except the current one,
/// which is hashed only once the next is asked for: when the current line turns out to be the
/// trailer, the hash is exactly that of every byte before it.
pub(super) struct LineReader<R> {
    input: R,
    hasher: Sha256,
    line: Vec<u8>,
    line_unhashed: bool,
    line_no: u64,
    bytes: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            input,
            hasher: Sha256::new(),
            line: Vec::new(),
            line_unhashed: false,
            line_no: 0,
            bytes: 0,
        }
    }

    /// The 1-based number of the line last returned.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Bytes consumed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// SHA-256 of every byte before the line last returned.
    pub fn digest_before_current(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    pub fn next(&mut self) -> io::Result<Next<'_>> {
        if self.line_unhashed {
            self.hasher.update(&self.line);
            self.hasher.update(b"\n");
            self.line_unhashed = false;
        }
        self.line.clear();
        let mut overlong = false;
        let mut started = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if available.is_empty() {
                if !started {
                    return Ok(Next::Eof);
                }
                self.line_no += 1;
                return Ok(Next::Unterminated(&self.line));
            }
            started = true;
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            if !overlong && self.line.len() + chunk.len() > MAX_LINE_BYTES {
                // Hash what was buffered and stream the rest: this can never be the trailer.
                overlong = true;
                self.hasher.update(&self.line);
                self.line.clear();
            }
            if overlong {
                self.hasher.update(chunk);
            } else {
                self.line.extend_from_slice(chunk);
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.input.consume(used);
            self.bytes += used as u64;
            if newline.is_some() {
                self.line_no += 1;
                if overlong {
                    self.hasher.update(b"\n");
                    return Ok(Next::Overlong);
                }
                self.line_unhashed = true;
                return Ok(Next::Line(&self.line));
            }
        }
    }
}

/// Writes lines, hashing each, and refuses a line no reader would accept.
pub(super) struct LineWriter<'a, W: Write> {
    out: BufWriter<W>,
    hasher: Sha256,
    line: Vec<u8>,
    bytes: u64,
    progress: Progress<'a>,
}

impl<'a, W: Write> LineWriter<'a, W> {
    pub fn new(out: W, progress: &'a mut dyn FnMut(u64)) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, out),
            hasher: Sha256::new(),
            line: Vec::with_capacity(4096),
            bytes: 0,
            progress: Progress::new(progress),
        }
    }

    pub fn write<T: Serialize>(&mut self, value: &T) -> Result<(), BackupError> {
        self.encode(value)?;
        self.hasher.update(&self.line);
        self.emit()
    }

    /// Writes the trailer (which the checksum does not cover), flushes, and returns the size.
    pub fn finish(mut self, counts: Counts) -> Result<u64, BackupError> {
        let sha256 = to_hex(&self.hasher.clone().finalize());
        self.encode(&Line::End { counts, sha256 })?;
        self.emit()?;
        self.out.flush()?;
        self.progress.finish(self.bytes);
        Ok(self.bytes)
    }

    fn encode<T: Serialize>(&mut self, value: &T) -> Result<(), BackupError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value).map_err(io::Error::other)?;
        if self.line.len() > MAX_LINE_BYTES {
            return Err(BackupError::Store(StoreError::Corrupt(format!(
                "a record of {} bytes is larger than a backup line may be ({MAX_LINE_BYTES})",
                self.line.len()
            ))));
        }
        self.line.push(b'\n');
        Ok(())
    }

    fn emit(&mut self) -> Result<(), BackupError> {
        self.out.write_all(&self.line)?;
        self.bytes += self.line.len() as u64;
        self.progress.update(self.bytes);
        Ok(())
    }
}
