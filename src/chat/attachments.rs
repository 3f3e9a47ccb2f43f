//! Attachments in the chat domain: who may upload to a room and read its files, how a send
//! takes its uploads along, and when an attachment has outlived its use.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use tokio::io::AsyncRead;

use super::model::User;
use super::Chat;
use crate::attachments::inspect::{self, ImageLimits};
use crate::attachments::upload::{self, Bounds, ReceiveError};
use crate::error::{Error, Result};
use crate::ids::{AttachmentId, RoomId};
use crate::store::{AttachmentMeta, AttachmentRecord, IncomingFile, Store};

/// Attachments a message carries at most.
pub const MAX_PER_MESSAGE: usize = 10;

/// Attachments named by a send on its way to disk: a second send naming one of them is refused
/// until the first is saved (then the record says it is sent) or failed (then it is free again).
#[derive(Default)]
pub(super) struct Sending(Mutex<HashSet<AttachmentId>>);

impl Sending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<AttachmentId>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After the committer is done with a message, saved or not.
    pub(super) fn release(&self, attachments: &[AttachmentMeta]) {
        if attachments.is_empty() {
            return;
        }
        let mut sending = self.lock();
        for meta in attachments {
            if let Ok(id) = meta.id.parse() {
                sending.remove(&id);
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
        self.membership(room, user)?;
        let settings = &self.settings.attachments;
        let free = self.store.free_disk_space()?;
        if free < settings.min_free_disk {
            return Err(Error::InsufficientStorage(
                "the server is nearly out of disk space; uploads are paused".into(),
            ));
        }
        let used = self.store.attachment_usage(&user.username)?;
        if used >= settings.user_quota {
            return Err(quota_exceeded(settings.user_quota));
        }
        let id = AttachmentId::generate(self.now_ms());
        let mut incoming =
            blocking(self.store.clone(), move |store| store.incoming_file(id)).await?;
        let bounds = Bounds {
            max_bytes: settings.max_bytes,
            quota_left: settings.user_quota - used,
            idle: settings.idle_timeout,
        };
        let received = {
            let file = incoming.file().map_err(crate::store::StoreError::from)?;
            let mut writer = tokio::fs::File::from_std(
                file.try_clone().map_err(crate::store::StoreError::from)?,
            );
            upload::receive(body, &mut writer, bounds).await
        };
        let received = received.map_err(|err| match err {
            ReceiveError::TooLarge(max) => {
                Error::TooLarge(format!("a file has at most {max} bytes"))
            }
            ReceiveError::OverQuota => quota_exceeded(settings.user_quota),
            ReceiveError::Stalled(_) | ReceiveError::Read(_) => {
                Error::invalid("upload_interrupted", err.to_string())
            }
            ReceiveError::Write(io) => write_failed(io),
        })?;
        let limits = ImageLimits {
            max_pixels: settings.max_image_pixels,
            ..ImageLimits::default()
        };
        let (incoming, inspection) = tokio::task::spawn_blocking(move || {
            let mut incoming = incoming;
            let inspection = incoming
                .finish()
                .and_then(|()| inspect::inspect(incoming.path(), &limits));
            (incoming, inspection)
        })
        .await
        .map_err(|_| Error::SaveFailed)?;
        let inspection = inspection.map_err(write_failed)?;
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
        Ok(meta)
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
                && record.uploader.eq_ignore_ascii_case(author);
            if !usable {
                return Err(unusable(raw));
            }
            taken.push((id, record));
        }
        let mut sending = self.sending.lock();
        if let Some((id, _)) = taken.iter().find(|(id, _)| sending.contains(id)) {
            return Err(unusable(&id.to_string()));
        }
        sending.extend(taken.iter().map(|(id, _)| *id));
        Ok(taken)
    }

    /// Gives back attachments taken by a send that was then refused before it was queued.
    pub(super) fn untake_attachments(&self, taken: &[(AttachmentId, AttachmentRecord)]) {
        let mut sending = self.sending.lock();
        for (id, _) in taken {
            sending.remove(id);
        }
    }

    /// Deletes attachments that have outlived their use: unsent uploads older than
    /// `attachments.orphan_ttl`, and any whose room or message is gone (left by a crash between
    /// two deletions). Returns how many were deleted.
    pub fn sweep_attachments(&self) -> Result<usize> {
        let now = self.now_ms();
        let ttl =
            u64::try_from(self.settings.attachments.orphan_ttl.as_millis()).unwrap_or(u64::MAX);
        let sending: HashSet<AttachmentId> = self.sending.lock().clone();
        let mut removed = 0;
        for (id, record) in self.store.attachments()? {
            if sending.contains(&id) || !self.outlived(&record, now, ttl)? {
                continue;
            }
            self.store.remove_attachment(id)?;
            removed += 1;
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

fn quota_exceeded(quota: u64) -> Error {
    Error::QuotaExceeded(format!(
        "your attachments would take more than your quota of {quota} bytes; delete some messages with files first"
    ))
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
