//! Reading a backup: one streaming pass that checks the header, every line (by the rules in
//! `check`), the counts and the checksum, in constant memory. Verification and restore share it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::check::{format_error, Checker};
use super::format::{
    from_hex32, Header, HeaderProbe, Line, LineReader, Next, Progress, FORMAT, MAX_LINE_BYTES,
    OLDEST_READABLE, VERSION,
};
use super::web_push::VAPID_KEY_LEN;
use super::{BackupError, BackupStats};
use crate::ids::{AttachmentId, RoomId};
use crate::store::{
    AttachmentRecord, IdentityKeyRecord, InviteRecord, MemberRecord, MessageRecord,
    NotificationLevel, PushSubscriptionRecord, ReadMarkerRecord, RoomKeyRecord, RoomRecord,
    SessionRecord, Store, TokenRecord, UserRecord, WebhookId, WebhookRecord,
};

/// A checked record, handed to the reader's sink in file order.
pub(super) enum Item {
    /// The header: the sink learns the file's version before any record.
    Version(u64),
    /// The server's VAPID key, checked to be a P-256 secret key (before any user).
    VapidKey([u8; VAPID_KEY_LEN]),
    User(UserRecord),
    Session([u8; 32], SessionRecord),
    Token([u8; 32], TokenRecord),
    /// A push subscription of the (lowercase) user, with the SHA-256 of its endpoint.
    PushSubscription(String, [u8; 32], PushSubscriptionRecord),
    /// The (lowercase) user's identity key.
    IdentityKey(String, IdentityKeyRecord),
    Room(RoomId, RoomRecord),
    /// A wrapped room key of a member: room, (lowercase) username, key version.
    RoomKey(RoomId, String, u32, RoomKeyRecord),
    Member {
        room: RoomId,
        username: String,
        record: MemberRecord,
        read_marker: Option<ReadMarkerRecord>,
        notifications: Option<NotificationLevel>,
    },
    Invite(RoomId, [u8; 32], InviteRecord),
    /// A webhook by id, with the hash of its secret if it is incoming.
    Webhook(RoomId, WebhookId, Option<[u8; 32]>, WebhookRecord),
    Message(RoomId, u64, MessageRecord),
    /// An uploaded file of the room; its bytes come next, as `AttachmentData` then
    /// `AttachmentThumbnail` items, and `AttachmentDone` once every one of them has arrived and
    /// matched the record (its size, its SHA-256, its preview's size).
    Attachment(RoomId, AttachmentId, AttachmentRecord),
    AttachmentData(Vec<u8>),
    AttachmentThumbnail(Vec<u8>),
    AttachmentDone,
}

impl Store {
    /// Checks a backup file completely (format, order, counts, checksum) without opening any
    /// database. `progress` receives the number of bytes read so far.
    pub fn verify_backup(
        path: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BackupStats, BackupError> {
        let file = File::open(path)?;
        Self::verify_backup_from(BufReader::with_capacity(64 * 1024, file), progress)
    }

    /// [`Store::verify_backup`] over any reader: the same checks, for backups that are not
    /// files (and for the fuzz target, which feeds it arbitrary bytes).
    pub fn verify_backup_from(
        input: impl BufRead,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BackupStats, BackupError> {
        read_backup(input, progress, &mut |_| Ok(()))
    }
}

/// Reads a whole backup, passing each record to `sink` as soon as it is checked.
///
/// The checksum can only be compared at the end, so a sink sees records of a file that may turn
/// out corrupt: restore verifies the file in a first pass and imports in a second.
///
/// After the first bad line the reader keeps hashing to the end (without calling the sink): a
/// damaged file is then reported as `Truncated` or `Checksum`, which says what happened better
/// than the parse error the damage caused. Only a file that is intact but invalid (written by a
/// buggy or foreign tool) gets the `Format` error of its first bad line.
pub(super) fn read_backup<R: BufRead>(
    input: R,
    progress: &mut dyn FnMut(u64),
    sink: &mut dyn FnMut(Item) -> Result<(), BackupError>,
) -> Result<BackupStats, BackupError> {
    let mut lines = LineReader::new(input);
    let mut progress = Progress::new(progress);
    let header = read_header(&mut lines)?;
    sink(Item::Version(header.version))?;
    let mut checker = Checker::new(header.version);
    let mut first_error: Option<BackupError> = None;
    // Whether the last complete line parsed; tells a cut-off file from a damaged last line.
    let mut last_parsed = true;
    loop {
        progress.update(lines.bytes());
        let line_no = lines.line_no() + 1;
        let bytes = match lines.next()? {
            Next::Line(bytes) => bytes,
            Next::Overlong => {
                first_error.get_or_insert_with(|| format_error(line_no, overlong()));
                last_parsed = true;
                continue;
            }
            Next::Unterminated(_) => return Err(BackupError::Truncated),
            Next::Eof if last_parsed => return Err(BackupError::Truncated),
            Next::Eof => {
                return Err(format_error(
                    line_no - 1,
                    "damaged last line: expected the trailer".into(),
                ))
            }
        };
        let line = match serde_json::from_slice::<Line>(bytes) {
            Ok(line) => line,
            Err(err) => {
                last_parsed = false;
                first_error.get_or_insert_with(|| format_error(line_no, format!("{err}")));
                continue;
            }
        };
        last_parsed = true;
        if let Line::End { counts, sha256 } = line {
            let actual = lines.digest_before_current();
            if !matches!(lines.next()?, Next::Eof) {
                return Err(format_error(
                    line_no + 1,
                    "data after the trailer line".into(),
                ));
            }
            progress.finish(lines.bytes());
            if from_hex32(&sha256) != Some(actual) {
                return Err(BackupError::Checksum);
            }
            if let Some(err) = first_error {
                return Err(err);
            }
            if let Some(reason) = checker.unfinished_attachment() {
                return Err(format_error(line_no, reason));
            }
            if counts != checker.counts() {
                return Err(format_error(
                    line_no,
                    format!(
                        "the trailer counts {counts:?}, but the file holds {:?}",
                        checker.counts()
                    ),
                ));
            }
            return Ok(counts.stats(lines.bytes()));
        }
        if first_error.is_some() {
            continue;
        }
        match checker.check(line, line_no) {
            Ok(item) => {
                sink(item)?;
                if checker.attachment_complete() {
                    sink(Item::AttachmentDone)?;
                }
            }
            Err(err) => first_error = Some(err),
        }
    }
}

/// Checks line 1. A file that is not a backup at all, or of a version we cannot read, is
/// refused at once rather than read to its end.
fn read_header<R: BufRead>(lines: &mut LineReader<R>) -> Result<Header, BackupError> {
    let not_backup = || format_error(1, "not a confab backup (no backup header)".into());
    let bytes = match lines.next()? {
        Next::Line(bytes) => bytes,
        Next::Eof => return Err(format_error(1, "the file is empty".into())),
        Next::Unterminated(start) if contains(start, FORMAT.as_bytes()) => {
            return Err(BackupError::Truncated)
        }
        Next::Unterminated(_) | Next::Overlong => return Err(not_backup()),
    };
    let probe: HeaderProbe = serde_json::from_slice(bytes).map_err(|_| not_backup())?;
    if probe.format.as_deref() != Some(FORMAT) {
        return Err(not_backup());
    }
    match probe.version {
        Some(version) if (OLDEST_READABLE..=VERSION).contains(&version) => {}
        Some(other) => return Err(BackupError::UnsupportedVersion(other)),
        None => return Err(format_error(1, "the header has no version".into())),
    }
    serde_json::from_slice(bytes).map_err(|err| format_error(1, format!("bad header: {err}")))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn overlong() -> String {
    format!(
        "line longer than the {} MiB limit",
        MAX_LINE_BYTES / (1024 * 1024)
    )
}
