//! Attachments in the chat domain: who may upload to a room and read its files, how a send
//! takes its uploads along, and when an attachment has outlived its use.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::AsyncRead;
use tokio::sync::Semaphore;

use super::model::User;
use super::Chat;
use crate::attachments::inspect::{self, ImageLimits};
use crate::attachments::upload::{self, Bounds, ReceiveError};
use crate::error::{Error, Result};
use crate::ids::{AttachmentId, RoomId};
use crate::store::{AttachmentMeta, AttachmentRecord, IncomingFile, Store};

/// Attachments a message carries at most.
pub const MAX_PER_MESSAGE: usize = 10;

/// Uploads inspected (sniffed, measured, previewed) at once. One decode may take
/// `max_decoded_bytes` of memory (512 MiB by default; a 1 MB PNG that inflates to 7,000 x
/// 7,000 pixels, within the pixel limit, costs about 150 MB) and a whole core: without a bound,
/// a few uploads at once could take every byte of a small server's memory. One slot keeps the
/// other core for chat; the others wait with their file on disk, holding no memory.
const INSPECTIONS_AT_ONCE: usize = 1;

/// Attachment work on its way, shared by every upload, send and sweep of the server.
pub(super) struct InFlight {
    /// Attachments named by a send on its way to disk: a second send naming one of them is
    /// refused until the first is saved (then the record says it is sent) or failed (then it
    /// is free again), and the sweep leaves them alone. Sends check records under this lock
    /// and the sweep deletes under it, so a send never takes an upload the sweep is deleting.
    named: Mutex<HashSet<AttachmentId>>,
    /// Bytes of uploads still arriving (or being stored), per uploader: with what is stored
    /// they count against the uploader's quota, so parallel uploads cannot each fill the same
    /// remaining space.
    arriving: Mutex<HashMap<String, u64>>,
    /// Slots for inspecting an upload (see [`INSPECTIONS_AT_ONCE`]).
    inspecting: Arc<Semaphore>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            named: Mutex::default(),
            arriving: Mutex::default(),
            inspecting: Arc::new(Semaphore::new(INSPECTIONS_AT_ONCE)),
        }
    }
}

impl InFlight {
    fn named(&self) -> MutexGuard<'_, HashSet<AttachmentId>> {
        self.named.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn arriving(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.arriving.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After the committer is done with a message, saved or not.
    pub(super) fn release(&self, attachments: &[AttachmentMeta]) {
        if attachments.is_empty() {
            return;
        }
        let mut named = self.named();
        for meta in attachments {
            if let Ok(id) = meta.id.parse() {
                named.remove(&id);
            }
        }
    }
}

/// One upload's bytes, counted against its uploader's quota from its first byte until it is
/// dropped: after its record is stored (so that, in between, its bytes count twice rather
/// than not at all), or when it is given up.
struct Arriving<'a> {
    in_flight: &'a InFlight,
    username: String,
    bytes: u64,
}

impl<'a> Arriving<'a> {
    fn new(in_flight: &'a InFlight, username: &str) -> Self {
        Self {
            in_flight,
            username: username.to_string(),
            bytes: 0,
        }
    }

    /// Counts this upload as `bytes` long; whether the uploader's `stored` bytes and all they
    /// have on its way stay within `quota`.
    fn admit(&mut self, bytes: u64, stored: u64, quota: u64) -> bool {
        let in_flight = self.in_flight;
        let total = self.set(&mut in_flight.arriving(), bytes);
        self.refused_unless(stored.saturating_add(total) <= quota)
    }

    /// Whether the uploader's `stored` bytes and all they have on its way leave no room.
    fn full(&self, stored: u64, quota: u64) -> bool {
        let arriving = self.in_flight.arriving();
        let total = arriving.get(&self.username).copied().unwrap_or(0);
        stored.saturating_add(total) >= quota
    }

    /// The final word on a received upload of `bytes`: `stored` is read under the same lock
    /// as the uploads on their way, so an upload that finished meanwhile is counted either
    /// there (its record is in) or here (its bytes still are).
    fn admit_finished(
        &mut self,
        bytes: u64,
        quota: u64,
        stored: impl FnOnce() -> Result<u64>,
    ) -> Result<bool> {
        let in_flight = self.in_flight;
        let mut arriving = in_flight.arriving();
        let stored = stored()?;
        let total = self.set(&mut arriving, bytes);
        drop(arriving);
        Ok(self.refused_unless(stored.saturating_add(total) <= quota))
    }

    /// `admitted`; a refused upload stops counting at once, so that an upload beside it is
    /// not refused for bytes that are being thrown away.
    fn refused_unless(&mut self, admitted: bool) -> bool {
        if !admitted {
            let in_flight = self.in_flight;
            self.set(&mut in_flight.arriving(), 0);
        }
        admitted
    }

    /// Sets this upload's length in `arriving` to `bytes`; the uploader's total on its way.
    fn set(&mut self, arriving: &mut HashMap<String, u64>, bytes: u64) -> u64 {
        let total = arriving.entry(self.username.clone()).or_default();
        *total = total.saturating_sub(self.bytes).saturating_add(bytes);
        self.bytes = bytes;
        *total
    }
}

impl Drop for Arriving<'_> {
    fn drop(&mut self) {
        let mut arriving = self.in_flight.arriving();
        if let Some(total) = arriving.get_mut(&self.username) {
            *total = total.saturating_sub(self.bytes);
            if *total == 0 {
                arriving.remove(&self.username);
            }
        }
    }
}

/// An attachment as a reader may fetch it.
#[derive(Debug)]
pub struct Readable {
    pub meta: AttachmentMeta,
    pub path: PathBuf,
}

impl Chat {
    /// Receives a file into `room` for `user`, a member: streamed to disk, hashed, its type
    /// read from its bytes and, for an image, measured and previewed; durable before it
    /// returns. `name` is the client's name for it, cleaned for display.
    pub async fn upload(
        &self,
        user: &User,
        room: RoomId,
        name: &str,
        body: impl AsyncRead + Unpin + Send,
    ) -> Result<AttachmentMeta> {
        if self.membership(room, user)?.room.encrypted {
            // Files would reach the server in clear: not in an end-to-end encrypted room.
            return Err(super::encryption::refused_in_encrypted_room(
                "attachments are",
            ));
        }
        let settings = &self.settings.attachments;
        let free = self.store.free_disk_space()?;
        if free < settings.min_free_disk {
            return Err(Error::InsufficientStorage(
                "the server is nearly out of disk space; uploads are paused".into(),
            ));
        }
        let quota = settings.user_quota;
        let stored = self.store.attachment_usage(&user.username)?;
        let mut arriving = Arriving::new(&self.attachments_in_flight, &user.username);
        if arriving.full(stored, quota) {
            return Err(quota_exceeded(quota));
        }
        let id = AttachmentId::generate(self.now_ms());
        let mut incoming =
            blocking(self.store.clone(), move |store| store.incoming_file(id)).await?;
        let bounds = Bounds {
            max_bytes: settings.max_bytes,
            idle: settings.idle_timeout,
        };
        let received = {
            let file = incoming.file().map_err(crate::store::StoreError::from)?;
            let mut writer = tokio::fs::File::from_std(
                file.try_clone().map_err(crate::store::StoreError::from)?,
            );
            // Early refusal against what was stored when the upload began; the final word
            // comes once it is complete.
            let within_quota = |size| arriving.admit(size, stored, quota);
            upload::receive(body, &mut writer, bounds, within_quota).await
        };
        let received = received.map_err(|err| match err {
            ReceiveError::TooLarge(max) => file_too_large(max),
            ReceiveError::OverQuota => quota_exceeded(quota),
            ReceiveError::Stalled(_) | ReceiveError::Read(_) => {
                Error::invalid("upload_interrupted", err.to_string())
            }
            ReceiveError::Write(io) => write_failed(io),
        })?;
        let usage = || Ok(self.store.attachment_usage(&user.username)?);
        if !arriving.admit_finished(received.size, quota, usage)? {
            return Err(quota_exceeded(quota));
        }
        let (incoming, inspection) = self.finish_and_inspect(incoming).await?;
        let (width, height, thumbnail) = match inspection.image {
            Some(image) => (Some(image.width), Some(image.height), image.thumbnail),
            None => (None, None, None),
        };
        let meta = AttachmentMeta {
            id: id.to_string(),
            name: upload::display_name(name),
            size: received.size,
            content_type: inspection.content_type,
            sha256: received.sha256,
            width,
            height,
            thumbnail: thumbnail.is_some(),
        };
        let record = AttachmentRecord {
            room: room.to_string(),
            uploader: user.username.clone(),
            created_at_ms: self.now_ms(),
            message: None,
            meta: meta.clone(),
        };
        keep(&self.store, room, id, record, incoming, thumbnail).await?;
        self.store.flush().await?;
        // Only now that its record counts: its bytes were counted as arriving until here.
        drop(arriving);
        Ok(meta)
    }

    /// Makes a received upload durable, then sniffs, measures and previews it in one of the
    /// inspection slots (see [`INSPECTIONS_AT_ONCE`]), off the async workers.
    async fn finish_and_inspect(
        &self,
        incoming: IncomingFile,
    ) -> Result<(IncomingFile, inspect::Inspection)> {
        let incoming = tokio::task::spawn_blocking(move || {
            let mut incoming = incoming;
            incoming.finish().map(|()| incoming)
        })
        .await
        .map_err(|_| Error::SaveFailed)?
        .map_err(write_failed)?;
        let limits = ImageLimits {
            max_pixels: self.settings.attachments.max_image_pixels,
            ..ImageLimits::default()
        };
        // Owned by the blocking task, so that a client gone meanwhile cannot free the slot
        // while its image is still being decoded.
        let slot = self
            .attachments_in_flight
            .inspecting
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Busy)?;
        let (incoming, inspection) = tokio::task::spawn_blocking(move || {
            let inspection = inspect::inspect(incoming.path(), &limits);
            drop(slot);
            (incoming, inspection)
        })
        .await
        .map_err(|_| Error::SaveFailed)?;
        Ok((incoming, inspection.map_err(write_failed)?))
    }

    /// Attachment `id` if `user` may read it: a member of its room, and for an upload not yet
    /// sent, its uploader. Everyone else is told it does not exist.
    pub fn readable_attachment(
        &self,
        user: &User,
        id: AttachmentId,
        thumbnail: bool,
    ) -> Result<Readable> {
        let not_found = || Error::NotFound("attachment");
        let record = self.store.attachment(id)?.ok_or_else(not_found)?;
        let room: RoomId = record.room.parse().map_err(|_| not_found())?;
        let live = self
            .room(room)
            .is_ok_and(|room| room.is_live(self.now_ms()));
        if !live || self.store.member(room, &user.username)?.is_none() {
            return Err(not_found());
        }
        if record.message.is_none() && !record.uploader.eq_ignore_ascii_case(&user.username) {
            return Err(not_found());
        }
        if thumbnail && !record.meta.thumbnail {
            return Err(Error::NotFound("thumbnail"));
        }
        Ok(Readable {
            path: self.store.attachment_path(room, id, thumbnail),
            meta: record.meta,
        })
    }

    /// The attachments a send in `room` by `author` names: each must be the author's own
    /// upload to this room, not sent, and not named by another send on its way. They are
    /// marked as on their way until the committer releases them.
    pub(super) fn take_attachments(
        &self,
        room: RoomId,
        author: &str,
        ids: &[String],
    ) -> Result<Vec<(AttachmentId, AttachmentRecord)>> {
        if ids.len() > MAX_PER_MESSAGE {
            return Err(Error::invalid(
                "too_many_attachments",
                format!("a message carries at most {MAX_PER_MESSAGE} attachments"),
            ));
        }
        let unusable = |id: &str| {
            Error::invalid(
                "invalid_attachment",
                format!("attachment {id} is not an unsent upload of yours in this room"),
            )
        };
        // Under the lock the sweep deletes under: a record read here is not being deleted.
        let mut named = self.attachments_in_flight.named();
        let mut taken = Vec::with_capacity(ids.len());
        for raw in ids {
            let id: AttachmentId = raw.parse().map_err(|_| unusable(raw))?;
            if taken.iter().any(|(seen, _)| *seen == id) {
                return Err(Error::invalid(
                    "invalid_attachment",
                    format!("attachment {raw} is named twice"),
                ));
            }
            let record = self.store.attachment(id)?.ok_or_else(|| unusable(raw))?;
            let usable = record.message.is_none()
                && record.room == room.to_string()
                && record.uploader.eq_ignore_ascii_case(author)
                && !named.contains(&id);
            if !usable {
                return Err(unusable(raw));
            }
            taken.push((id, record));
        }
        named.extend(taken.iter().map(|(id, _)| *id));
        Ok(taken)
    }

    /// Gives back attachments taken by a send that was then refused before it was queued.
    pub(super) fn untake_attachments(&self, taken: &[(AttachmentId, AttachmentRecord)]) {
        let mut named = self.attachments_in_flight.named();
        for (id, _) in taken {
            named.remove(id);
        }
    }

    /// Deletes attachments that have outlived their use: unsent uploads older than
    /// `attachments.orphan_ttl`, and any whose room or message is gone (left by a crash between
    /// two deletions). Returns how many were deleted.
    pub fn sweep_attachments(&self) -> Result<usize> {
        let now = self.now_ms();
        let ttl =
            u64::try_from(self.settings.attachments.orphan_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut removed = 0;
        for (id, record) in self.store.attachments()? {
            if !self.outlived(&record, now, ttl)? {
                continue;
            }
            // Decided again under the lock sends take uploads under: a send that took this
            // upload since the scan (and may be writing its claim on it) keeps it.
            let named = self.attachments_in_flight.named();
            let still = match self.store.attachment(id)? {
                Some(record) => !named.contains(&id) && self.outlived(&record, now, ttl)?,
                None => false,
            };
            if still {
                self.store.remove_attachment(id)?;
                removed += 1;
            }
            drop(named);
        }
        removed += self.store.remove_stray_attachment_files()?;
        Ok(removed)
    }

    fn outlived(&self, record: &AttachmentRecord, now: u64, ttl: u64) -> Result<bool> {
        let Ok(room) = record.room.parse::<RoomId>() else {
            return Ok(true);
        };
        if self.store.room(room)?.is_none() {
            return Ok(true);
        }
        Ok(match record.message {
            None => record.created_at_ms.saturating_add(ttl) <= now,
            Some(seq) => match self.store.message(room, seq)? {
                Some(message) => !message.attachments.iter().any(|a| a.id == record.meta.id),
                None => true,
            },
        })
    }
}

/// An upload over `attachments.max_bytes`, in words a person reads.
pub fn file_too_large(max: u64) -> Error {
    Error::TooLarge(format!("files can be at most {}", human_size(max)))
}

fn quota_exceeded(quota: u64) -> Error {
    Error::QuotaExceeded(format!(
        "your files would take more than your {} quota; delete some messages with files first",
        human_size(quota)
    ))
}

/// `26214400` as "25 MiB", `1536` as "1.5 KiB", `500` as "500 bytes".
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

fn write_failed(err: std::io::Error) -> Error {
    const NO_SPACE: i32 = 28; // ENOSPC
    if err.raw_os_error() == Some(NO_SPACE) {
        return Error::InsufficientStorage("the server's disk is full".into());
    }
    Error::Storage(err.into())
}

/// Moves a finished upload into place and records it, off the async workers (renames and
/// fsyncs).
async fn keep(
    store: &Store,
    room: RoomId,
    id: AttachmentId,
    record: AttachmentRecord,
    mut incoming: IncomingFile,
    thumbnail: Option<Vec<u8>>,
) -> Result<()> {
    blocking(store.clone(), move |store| {
        store.insert_attachment(room, id, &record, &mut incoming, thumbnail.as_deref())
    })
    .await
}

async fn blocking<T: Send + 'static>(
    store: Store,
    work: impl FnOnce(&Store) -> crate::store::StoreResult<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|_| Error::SaveFailed)?
        .map_err(|err| match err {
            crate::store::StoreError::Io(io) => write_failed(io),
            other => other.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(500), "500 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(25 * 1024 * 1024), "25 MiB");
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(1 << 50), "1024 TiB");
    }
}
