//! Attachments in a backup (format version 6): each room's uploaded files after its messages,
//! every file's bytes streamed in base64 lines right after its record, checked against the
//! record's size and SHA-256 while they are read, and written to disk by restore as they arrive.
//! Nothing here holds a whole file in memory; a preview (a small JPEG) is held whole, up to
//! [`MAX_THUMBNAIL_BYTES`].

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};

use super::format::{from_hex32, Counts, Line, LineWriter, ATTACHMENT_CHUNK, MAX_THUMBNAIL_BYTES};
use super::BackupError;
use crate::ids::{AttachmentId, RoomId};
use crate::store::{keys, AttachmentRecord, IncomingFile, Store, StoreError, StoreResult};

impl Store {
    /// A room's attachments, by id, sent or not, each followed by its bytes and its preview's.
    ///
    /// Attachment files are written once and never changed, and the caller holds off room
    /// deletions (see `write_backup`), so a room's directory stays; but an attachment can go
    /// while this runs (deleted with its message, or swept as an orphan). One whose record is
    /// gone is left out; one whose file cannot be read, or no longer has the size and SHA-256
    /// of its record (removed meanwhile, or damaged on disk), is left out with a warning: the
    /// backup of everything else matters more. Each file is therefore read twice, once to
    /// check it before its line is written (a line once written cannot be taken back) and once
    /// to copy it, which the page cache mostly serves. The file is opened once, so a deletion
    /// between the two reads changes nothing.
    ///
    /// An attachment sent with a message after the room's mark (during the backup) is written
    /// as unsent: that message is not in the file. A preview that cannot be read is left out
    /// (the record then says there is none).
    pub(super) fn write_attachments_of<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        room: RoomId,
        mark: u64,
        counts: &mut Counts,
    ) -> Result<(), BackupError> {
        for key in self.room_attachments.scan_prefix(keys::room(room)).keys() {
            let id = keys::parse_room_attachment(&key?)?;
            let Some(mut record) = self.attachment(id)? else {
                continue;
            };
            if record.room.parse::<RoomId>().ok() != Some(room) || record.meta.id != id.to_string()
            {
                return Err(BackupError::Store(StoreError::Corrupt(format!(
                    "attachment {id} of room {room} holds the room {:?} and the id {:?}",
                    record.room, record.meta.id
                ))));
            }
            let mut file = match open_checked(&self.attachment_path(room, id, false), &record) {
                Ok(file) => file,
                Err(reason) => {
                    let what = "an attachment is left out of the backup";
                    tracing::warn!(%room, attachment = %id, reason, "{what}");
                    continue;
                }
            };
            let thumbnail = if record.meta.thumbnail {
                match read_thumbnail(&self.attachment_path(room, id, true)) {
                    Ok(bytes) => Some(bytes),
                    Err(reason) => {
                        let what = "an attachment's preview is left out of the backup";
                        tracing::warn!(%room, attachment = %id, reason, "{what}");
                        None
                    }
                }
            } else {
                None
            };
            record.meta.thumbnail = thumbnail.is_some();
            if record.message.is_some_and(|seq| seq > mark) {
                record.message = None;
            }
            let size = record.meta.size;
            writer.write(&Line::Attachment {
                room: room.to_string(),
                id: id.to_string(),
                thumbnail_size: thumbnail.as_ref().map(|bytes| bytes.len() as u64),
                record,
            })?;
            counts.attachments += 1;
            copy_file(writer, &mut file, size, &|err| {
                BackupError::Store(StoreError::Corrupt(format!(
                    "attachment {id} of room {room} could not be read a second time: {err}"
                )))
            })?;
            for chunk in thumbnail
                .iter()
                .flat_map(|bytes| bytes.chunks(ATTACHMENT_CHUNK))
            {
                writer.write(&Line::AttachmentThumbnail {
                    data: Base64UrlUnpadded::encode_string(chunk),
                })?;
            }
        }
        Ok(())
    }
}

/// Opens an attachment's file and reads it through: it must have its record's size and SHA-256.
/// Returns it rewound, or why it cannot go into the backup.
fn open_checked(path: &Path, record: &AttachmentRecord) -> Result<File, String> {
    let mut file = File::open(path).map_err(|err| format!("its file cannot be opened: {err}"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(format!("its file cannot be read: {err}")),
        };
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    if size != record.meta.size {
        return Err(format!(
            "its file holds {size} bytes, its record says {}",
            record.meta.size
        ));
    }
    let sha256: [u8; 32] = hasher.finalize().into();
    if from_hex32(&record.meta.sha256) != Some(sha256) {
        return Err("its file does not match its record's SHA-256 (damaged on disk?)".into());
    }
    file.rewind()
        .map_err(|err| format!("its file cannot be read again: {err}"))?;
    Ok(file)
}

/// A preview, whole: previews are small, and one larger than a backup may hold is left out.
fn read_thumbnail(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|err| format!("its preview cannot be opened: {err}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_THUMBNAIL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("its preview cannot be read: {err}"))?;
    if bytes.len() as u64 > MAX_THUMBNAIL_BYTES {
        return Err(format!(
            "its preview is larger than a backup holds ({MAX_THUMBNAIL_BYTES} bytes)"
        ));
    }
    Ok(bytes)
}

/// Streams `size` bytes of `file` as data lines, one [`ATTACHMENT_CHUNK`] at a time. Its line
/// is written already: a read failing now fails the backup (`unreadable` says which file).
fn copy_file<W: Write>(
    writer: &mut LineWriter<'_, W>,
    file: &mut File,
    size: u64,
    unreadable: &dyn Fn(io::Error) -> BackupError,
) -> Result<(), BackupError> {
    let mut buffer = vec![0u8; ATTACHMENT_CHUNK];
    let mut left = size;
    while left > 0 {
        let want = usize::try_from(left).map_or(ATTACHMENT_CHUNK, |l| l.min(ATTACHMENT_CHUNK));
        let chunk = &mut buffer[..want];
        file.read_exact(chunk).map_err(unreadable)?;
        writer.write(&Line::AttachmentData {
            data: Base64UrlUnpadded::encode_string(chunk),
        })?;
        left -= want as u64;
    }
    Ok(())
}

/// The attachment whose bytes the lines after its own are carrying, as the reader checks them:
/// exactly its record's size in data lines, matching its SHA-256, then exactly its preview's
/// size in thumbnail lines.
pub(super) struct PendingAttachment {
    id: AttachmentId,
    size: u64,
    received: u64,
    sha256: [u8; 32],
    hasher: Sha256,
    thumbnail_size: u64,
    thumbnail_received: u64,
}

impl PendingAttachment {
    /// Checks an attachment line of `room` (whose last message is `last_seq`), and returns the
    /// run of bytes its next lines must hold.
    pub fn start(
        room: RoomId,
        last_seq: u64,
        id: &str,
        thumbnail_size: Option<u64>,
        record: &AttachmentRecord,
    ) -> Result<Self, String> {
        let parsed = id
            .parse::<AttachmentId>()
            .map_err(|_| "an attachment whose id is not a ULID".to_string())?;
        if record.meta.id != id {
            return Err("the attachment record's id differs from the line's id".into());
        }
        if record.room.parse::<RoomId>().ok() != Some(room) {
            return Err("an attachment whose record names another room".into());
        }
        if record.uploader.is_empty() || record.uploader.contains('\0') {
            return Err("empty uploader or one holding a NUL character".into());
        }
        if let Some(seq) = record.message {
            if seq == 0 || seq > last_seq {
                return Err(format!(
                    "an attachment sent with message {seq}, beyond its room's last_seq {last_seq}"
                ));
            }
        }
        let sha256 = from_hex32(&record.meta.sha256).ok_or_else(|| {
            "an attachment whose sha256 is not 64 lowercase hex digits".to_string()
        })?;
        let thumbnail_size = match (record.meta.thumbnail, thumbnail_size) {
            (true, Some(size)) if size <= MAX_THUMBNAIL_BYTES => size,
            (true, Some(_)) => {
                return Err(format!(
                    "an attachment preview larger than {MAX_THUMBNAIL_BYTES} bytes"
                ))
            }
            (false, None) => 0,
            _ => {
                return Err(
                    "an attachment with a thumbnail_size but no preview, or a preview but no thumbnail_size"
                        .into(),
                )
            }
        };
        let pending = Self {
            id: parsed,
            size: record.meta.size,
            received: 0,
            sha256,
            hasher: Sha256::new(),
            thumbnail_size,
            thumbnail_received: 0,
        };
        if pending.size == 0 {
            pending.check_sha256()?;
        }
        Ok(pending)
    }

    pub fn id(&self) -> AttachmentId {
        self.id
    }

    /// The bytes of a data line, once they fit; the SHA-256 is checked with the last of them.
    pub fn data(&mut self, text: &str) -> Result<Vec<u8>, String> {
        if self.received == self.size {
            return Err(format!(
                "attachment {} has more data than its {} bytes",
                self.id, self.size
            ));
        }
        let bytes = decode_chunk(text, self.size - self.received, self.id)?;
        self.hasher.update(&bytes);
        self.received += bytes.len() as u64;
        if self.received == self.size {
            self.check_sha256()?;
        }
        Ok(bytes)
    }

    /// The bytes of a thumbnail line, which may only follow all of the data.
    pub fn thumbnail(&mut self, text: &str) -> Result<Vec<u8>, String> {
        if self.received < self.size {
            return Err(self.cut_short());
        }
        let left = self.thumbnail_size - self.thumbnail_received;
        if left == 0 {
            return Err(format!(
                "attachment {} has more preview bytes than its thumbnail_size {}",
                self.id, self.thumbnail_size
            ));
        }
        let bytes = decode_chunk(text, left, self.id)?;
        self.thumbnail_received += bytes.len() as u64;
        Ok(bytes)
    }

    /// Whether every byte of the file and of its preview has arrived (and matched).
    pub fn is_complete(&self) -> bool {
        self.received == self.size && self.thumbnail_received == self.thumbnail_size
    }

    /// Why a line that is neither data nor preview cannot come yet.
    pub fn cut_short(&self) -> String {
        if self.received < self.size {
            format!(
                "attachment {} ends after {} of its {} bytes",
                self.id, self.received, self.size
            )
        } else {
            format!(
                "the preview of attachment {} ends after {} of its {} bytes",
                self.id, self.thumbnail_received, self.thumbnail_size
            )
        }
    }

    fn check_sha256(&self) -> Result<(), String> {
        let actual: [u8; 32] = self.hasher.clone().finalize().into();
        if actual != self.sha256 {
            return Err(format!(
                "the bytes of attachment {} do not match its SHA-256",
                self.id
            ));
        }
        Ok(())
    }
}

/// One line's bytes: base64url without padding, not empty, and no more than `left`.
fn decode_chunk(text: &str, left: u64, id: AttachmentId) -> Result<Vec<u8>, String> {
    let bytes = Base64UrlUnpadded::decode_vec(text)
        .map_err(|_| format!("a data line of attachment {id} is not base64url without padding"))?;
    if bytes.is_empty() {
        return Err(format!("an empty data line of attachment {id}"));
    }
    if bytes.len() as u64 > left {
        return Err(format!(
            "a data line of attachment {id} goes past its size ({} bytes, {left} left)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// An attachment being restored: its bytes go to a file under the store's `incoming/` as they
/// arrive (removed if the restore stops before it is kept), its preview into memory.
pub(super) struct RestoringAttachment {
    room: RoomId,
    id: AttachmentId,
    record: AttachmentRecord,
    file: IncomingFile,
    thumbnail: Vec<u8>,
}

impl RestoringAttachment {
    pub fn start(
        store: &Store,
        room: RoomId,
        id: AttachmentId,
        record: AttachmentRecord,
    ) -> StoreResult<Self> {
        Ok(Self {
            room,
            id,
            record,
            file: store.incoming_file(id)?,
            thumbnail: Vec::new(),
        })
    }

    pub fn data(&mut self, bytes: &[u8]) -> StoreResult<()> {
        Ok(self.file.file()?.write_all(bytes)?)
    }

    pub fn thumbnail(&mut self, bytes: &[u8]) {
        self.thumbnail.extend_from_slice(bytes);
    }

    /// Moves the file (synced) and its preview into place, then writes the record and its
    /// indexes, as an upload is kept.
    pub fn keep(mut self, store: &Store) -> StoreResult<()> {
        let thumbnail = self
            .record
            .meta
            .thumbnail
            .then_some(self.thumbnail.as_slice());
        store.insert_attachment(self.room, self.id, &self.record, &mut self.file, thumbnail)
    }
}
