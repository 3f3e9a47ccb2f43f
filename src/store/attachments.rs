//! Uploaded files: their records in sled, their bytes in files under the data directory.
//!
//! Why files and not sled chunks: uploads are large and written once, and sled keeps every
//! overwritten or deleted value in its log until it compacts, so 25 MiB uploads would multiply
//! the database's size and its recovery time; files are also streamed back with Range requests
//! at disk speed. The layout is the store's own (`<data>/attachments/<room>/<id>`, its preview
//! beside it as `<id>.thumb`); nothing outside this file builds a path into it.
//!
//! Durability: an upload is written to `<data>/attachments/incoming/`, fsynced, renamed into
//! its room's directory, and the directory fsynced, all before its record is inserted and
//! flushed, and the record before the upload is acknowledged. A crash in between leaves a file
//! without a record, which the next start removes (`incoming/` is emptied, and the sweep
//! removes files no record names). A record never names a missing file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::records::{decode, encode};
use super::{keys, AttachmentRecord, Store, StoreError, StoreResult};
use crate::ids::{AttachmentId, RoomId};

/// Where attachment files live, under the data directory.
#[derive(Debug, Clone)]
pub(super) struct AttachmentFiles {
    root: PathBuf,
}

/// A file being received: written under `incoming/` until it is kept (or dropped, which
/// removes it).
#[derive(Debug)]
pub struct IncomingFile {
    path: PathBuf,
    file: Option<fs::File>,
    kept: bool,
}

impl IncomingFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, for writing the upload into.
    pub fn file(&mut self) -> io::Result<&mut fs::File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the incoming file is closed"))
    }

    /// Makes the bytes written so far durable and closes the file.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
            file.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for IncomingFile {
    fn drop(&mut self) {
        if !self.kept {
            self.file.take();
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl AttachmentFiles {
    pub(super) fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("attachments"),
        }
    }

    fn incoming_dir(&self) -> PathBuf {
        self.root.join("incoming")
    }

    fn room_dir(&self, room: RoomId) -> PathBuf {
        self.root.join(room.to_string())
    }

    fn file(&self, room: RoomId, id: AttachmentId) -> PathBuf {
        self.room_dir(room).join(id.to_string())
    }

    fn thumbnail(&self, room: RoomId, id: AttachmentId) -> PathBuf {
        self.room_dir(room).join(format!("{id}.thumb"))
    }

    /// Empties `incoming/`: what is there was never acknowledged.
    pub(super) fn clear_incoming(&self) -> io::Result<()> {
        match fs::remove_dir_all(self.incoming_dir()) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => fs::create_dir_all(self.incoming_dir()),
        }
    }

    fn remove_room(&self, room: RoomId) -> io::Result<()> {
        match fs::remove_dir_all(self.room_dir(room)) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    fn remove(&self, room: RoomId, id: AttachmentId) -> io::Result<()> {
        for path in [self.file(room, id), self.thumbnail(room, id)] {
            match fs::remove_file(path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }

    /// Moves a finished upload (and its preview) into its room's directory, durably.
    fn keep(
        &self,
        room: RoomId,
        id: AttachmentId,
        incoming: &mut IncomingFile,
        thumbnail: Option<&[u8]>,
    ) -> io::Result<()> {
        incoming.finish()?;
        let dir = self.room_dir(room);
        fs::create_dir_all(&dir)?;
        if let Some(bytes) = thumbnail {
            write_durably(&self.thumbnail(room, id), bytes)?;
        }
        fs::rename(&incoming.path, self.file(room, id))?;
        incoming.kept = true;
        sync_dir(&dir)?;
        sync_dir(&self.root)
    }

    /// Rooms that have a directory here, with the directory.
    fn stored(&self) -> io::Result<Vec<(RoomId, PathBuf)>> {
        let mut rooms = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(rooms),
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            if let Some(room) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                rooms.push((room, entry.path()));
            }
        }
        Ok(rooms)
    }
}

fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing on every platform; where they can (Linux), a
    // rename is durable only once its directory is synced.
    match fs::File::open(dir) {
        Ok(handle) => handle.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

impl Store {
    pub fn attachment(&self, id: AttachmentId) -> StoreResult<Option<AttachmentRecord>> {
        self.attachments
            .get(id.to_bytes())?
            .map(|bytes| decode(&bytes, "attachment"))
            .transpose()
    }

    /// Bytes free on the disk that holds the attachment files.
    pub fn free_disk_space(&self) -> StoreResult<u64> {
        Ok(fs2::available_space(&self.files.root)?)
    }

    /// A new file to receive an upload into.
    pub fn incoming_file(&self, id: AttachmentId) -> StoreResult<IncomingFile> {
        let dir = self.files.incoming_dir();
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{id}.part"));
        let file = fs::File::create(&path)?;
        Ok(IncomingFile {
            path,
            file: Some(file),
            kept: false,
        })
    }

    /// Keeps a finished upload: its file (and preview) moved into place durably, then its
    /// record. The caller flushes before acknowledging.
    pub fn insert_attachment(
        &self,
        room: RoomId,
        id: AttachmentId,
        record: &AttachmentRecord,
        incoming: &mut IncomingFile,
        thumbnail: Option<&[u8]>,
    ) -> StoreResult<()> {
        self.files.keep(room, id, incoming, thumbnail)?;
        let room_key = keys::room_attachment(room, id);
        let user_key = keys::user_attachment(&record.uploader, id);
        let value = encode(record);
        let size = keys::seq_value(record.meta.size);
        (
            &self.attachments,
            &self.room_attachments,
            &self.user_attachments,
        )
            .transaction(
                |(attachments, by_room, by_user): &(
                    TransactionalTree,
                    TransactionalTree,
                    TransactionalTree,
                )| {
                    attachments.insert(&id.to_bytes()[..], value.as_slice())?;
                    by_room.insert(room_key.as_slice(), &[] as &[u8])?;
                    by_user.insert(user_key.as_slice(), &size[..])?;
                    Ok(())
                },
            )
            .map_err(StoreError::from)
    }

    /// Makes attachments sent with message `seq`, which is being taken back, unsent again.
    pub(super) fn unclaim_attachments(
        &self,
        seq: u64,
        attachments: &[super::AttachmentMeta],
    ) -> StoreResult<()> {
        for meta in attachments {
            let Ok(id) = meta.id.parse::<AttachmentId>() else {
                continue;
            };
            if let Some(mut record) = self.attachment(id)? {
                if record.message == Some(seq) {
                    record.message = None;
                    self.attachments.insert(id.to_bytes(), encode(&record))?;
                }
            }
        }
        Ok(())
    }

    /// Bytes of every attachment `username` has uploaded and not yet lost (sent or not).
    pub fn attachment_usage(&self, username: &str) -> StoreResult<u64> {
        let mut total = 0u64;
        for value in self
            .user_attachments
            .scan_prefix(keys::user_attachments_prefix(username))
            .values()
        {
            total = total.saturating_add(keys::parse_seq_value(&value?)?);
        }
        Ok(total)
    }

    /// Path of an attachment's bytes, or of its preview.
    pub fn attachment_path(&self, room: RoomId, id: AttachmentId, thumbnail: bool) -> PathBuf {
        if thumbnail {
            self.files.thumbnail(room, id)
        } else {
            self.files.file(room, id)
        }
    }

    /// Deletes an attachment: its record, then its files.
    pub fn remove_attachment(&self, id: AttachmentId) -> StoreResult<()> {
        let Some(record) = self.attachment(id)? else {
            return Ok(());
        };
        let room = parse_room(&record.room)?;
        self.attachments.remove(id.to_bytes())?;
        self.room_attachments
            .remove(keys::room_attachment(room, id))?;
        self.user_attachments
            .remove(keys::user_attachment(&record.uploader, id))?;
        self.files.remove(room, id)?;
        Ok(())
    }

    /// Deletes the attachments sent with message `seq` of `room` (it was deleted).
    pub fn remove_message_attachments(&self, room: RoomId, seq: u64) -> StoreResult<()> {
        for key in self.room_attachments.scan_prefix(keys::room(room)).keys() {
            let id = keys::parse_room_attachment(&key?)?;
            if self
                .attachment(id)?
                .is_some_and(|record| record.message == Some(seq))
            {
                self.remove_attachment(id)?;
            }
        }
        Ok(())
    }

    /// Deletes every attachment of a room being deleted: records, then the room's directory.
    pub(super) fn remove_room_attachments(&self, room: RoomId) -> StoreResult<()> {
        for key in self.room_attachments.scan_prefix(keys::room(room)).keys() {
            let id = keys::parse_room_attachment(&key?)?;
            if let Some(record) = self.attachment(id)? {
                self.user_attachments
                    .remove(keys::user_attachment(&record.uploader, id))?;
            }
            self.attachments.remove(id.to_bytes())?;
        }
        super::rooms::delete_prefix(&self.room_attachments, &keys::room(room))?;
        self.files.remove_room(room)?;
        Ok(())
    }

    /// Every attachment record, for the sweep (which decides what has outlived its use).
    pub fn attachments(&self) -> StoreResult<Vec<(AttachmentId, AttachmentRecord)>> {
        self.attachments
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let bytes: [u8; 16] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("attachment key".into()))?;
                Ok((
                    AttachmentId::from_bytes(bytes),
                    decode(&value, "attachment")?,
                ))
            })
            .collect()
    }

    /// Removes attachment files and room directories that no record names (left by a crash
    /// between a file's rename and its record, or a room deleted while its files were busy).
    /// Returns how many were removed.
    pub fn remove_stray_attachment_files(&self) -> StoreResult<usize> {
        let mut removed = 0;
        for (room, dir) in self.files.stored()? {
            if self.room(room)?.is_none() {
                self.files.remove_room(room)?;
                removed += 1;
                continue;
            }
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                // A file just renamed into place may be waiting for its record.
                let modified = entry.metadata()?.modified()?;
                if modified.elapsed().unwrap_or_default() < STRAY_AFTER {
                    continue;
                }
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let id = name.strip_suffix(".thumb").unwrap_or(name);
                let known = match id.parse::<AttachmentId>() {
                    Ok(id) => self.attachments.contains_key(id.to_bytes())?,
                    Err(_) => false,
                };
                if !known {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// How old a file no record names must be before it is taken for a leftover.
const STRAY_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

pub(super) fn parse_room(id: &str) -> StoreResult<RoomId> {
    id.parse()
        .map_err(|_| StoreError::Corrupt(format!("attachment room id {id:?}")))
}

// ---------------------------------------------------------------------------------------------
// For backups (src/store/backup): a restore's clean slate.
// ---------------------------------------------------------------------------------------------

impl Store {
    /// Removes every attachment file, each room's directory and `incoming/`: for a restore,
    /// which starts from empty trees (so no record names any of them) and undoes a failed
    /// import. The caller must have the store to itself.
    pub(super) fn remove_all_attachment_files(&self) -> StoreResult<()> {
        for (room, _) in self.files.stored()? {
            self.files.remove_room(room)?;
        }
        self.files.clear_incoming()?;
        Ok(())
    }
}
