//! sled behind one small typed API. Nothing outside this module sees a sled tree or builds a key;
//! the engine could be swapped by rewriting this module alone.

mod attachments;
mod backup;
mod compact;
mod directory;
mod encryption;
mod invites;
mod keys;
mod marker_copies;
mod members;
mod mentions;
mod messages;
mod migrate;
mod push;
mod read_state;
mod records;
mod rooms;
mod search;
mod tokens;
mod users;
mod webhooks;

use std::path::Path;

pub use attachments::IncomingFile;
pub use backup::{BackupError, BackupOptions, BackupStats};
pub use compact::{CompactError, CompactStats};
pub use directory::RoomMembers;
pub use invites::UseInvite;
pub use keys::TOKEN_HASH_LEN;
pub use members::{RemovedMember, UpdateRoom};
pub use messages::{ChangedSince, EncodedMessage, Page};
pub use records::{
    AttachmentMeta, AttachmentRecord, DeliveryRecord, DeliveryStatus, EncryptedBody,
    IdentityKeyRecord, InviteRecord, KdfRecord, MemberRecord, MessageRecord, NotificationLevel,
    PushSubscriptionRecord, ReactionRecord, ReadMarkerRecord, Role, RoomKeyRecord, RoomKind,
    RoomRecord, SessionRecord, TokenRecord, UserRecord, WebhookKind, WebhookRecord, WebhookStamp,
};
pub use rooms::InsertRoom;
pub use tokens::TokenHash;
pub use webhooks::{DueDelivery, WebhookId};

/// What can go wrong below the domain: the engine failed, or bytes on disk are not what we wrote.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("database holds corrupt data: {0}")]
    Corrupt(String),
    /// An attachment file could not be read, written or removed.
    #[error("attachment file error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(err: sled::transaction::TransactionError<StoreError>) -> Self {
        match err {
            sled::transaction::TransactionError::Abort(inner) => inner,
            sled::transaction::TransactionError::Storage(inner) => StoreError::Sled(inner),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database: cheap to clone (every field is a handle onto the same sled instance).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    sessions: sled::Tree,
    user_sessions: sled::Tree,
    rooms: sled::Tree,
    room_names: sled::Tree,
    room_expiry: sled::Tree,
    messages: sled::Tree,
    nonces: sled::Tree,
    /// Per room, the sequence number of each message's last change -> the message's id.
    changes: sled::Tree,
    room_members: sled::Tree,
    user_rooms: sled::Tree,
    public_rooms: sled::Tree,
    direct_rooms: sled::Tree,
    invites: sled::Tree,
    room_invites: sled::Tree,
    meta: sled::Tree,
    /// Personal access tokens by the hash of their secret, and their indexes (see `keys`).
    tokens: sled::Tree,
    user_tokens: sled::Tree,
    token_expiry: sled::Tree,
    /// Webhooks by room, incoming ones by the hash of their secret, outgoing deliveries with
    /// their queue by due time (see `webhooks`).
    webhooks: sled::Tree,
    incoming_hooks: sled::Tree,
    deliveries: sled::Tree,
    delivery_queue: sled::Tree,
    /// Per (room, user): how far they have read, and when they want to hear about it; and who
    /// each message mentions (see `read_state`).
    read_markers: sled::Tree,
    notification_levels: sled::Tree,
    mention_index: sled::Tree,
    mention_totals: sled::Tree,
    /// Web Push subscriptions per user (see `push`).
    push_subscriptions: sled::Tree,
    /// Uploaded files: records by id, and indexes by room and by uploader (see `attachments`).
    attachments: sled::Tree,
    room_attachments: sled::Tree,
    user_attachments: sled::Tree,
    files: attachments::AttachmentFiles,
    /// Identity keys by user, and wrapped room keys by (room, member, version) (see
    /// `encryption`).
    identity_keys: sled::Tree,
    room_keys: sled::Tree,
    /// How far the search index has read each room (see `search`).
    search_marks: sled::Tree,
    /// One flush at a time (see `flush`), and which flushes have run.
    flushing: std::sync::Arc<tokio::sync::Mutex<()>>,
    flushes: std::sync::Arc<FlushCounters>,
    directory: std::sync::Arc<directory::RoomDirectory>,
    markers: std::sync::Arc<marker_copies::MarkerCopies>,
    /// The data directory's lock, for as long as any clone lives (see `compact::DirLock`).
    _dir_lock: std::sync::Arc<compact::DirLock>,
}

/// Counts of flushes started and of the last one that succeeded, so a caller whose writes a
/// flush that started after its call has made durable need not flush again.
#[derive(Default)]
struct FlushCounters {
    started: std::sync::atomic::AtomicU64,
    succeeded: std::sync::atomic::AtomicU64,
}

/// Why a data directory could not be opened, in words an admin can act on.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the data directory {0} is in use by another confab process (a server, an admin command \
         or `confab compact`; one at a time)"
    )]
    Locked(String),
    #[error("cannot open the data directory {path}: {source}")]
    Other { path: String, source: sled::Error },
    #[error("cannot open the data directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot finish the interrupted `confab compact` in {path}: {reason}")]
    Interrupted { path: String, reason: String },
    #[error("cannot upgrade the data in {path}: {reason}")]
    Migration { path: String, reason: String },
}

impl Store {
    /// Opens (creating if needed) the database in `dir` with a bounded page cache.
    ///
    /// The data directory's lock is taken first and held by the store; an interrupted
    /// `confab compact` is finished or undone under it before sled opens anything (see
    /// `compact`).
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let dir_lock = compact::lock_and_recover(dir)?;
        let db = open_engine(dir, cache_mb)?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|source| OpenError::Other {
                path: dir.display().to_string(),
                source,
            })
        };
        let store = Self {
            users: tree("users")?,
            sessions: tree("sessions")?,
            user_sessions: tree("user_sessions")?,
            rooms: tree("rooms")?,
            room_names: tree("room_names")?,
            room_expiry: tree("room_expiry")?,
            messages: tree("messages")?,
            nonces: tree("nonces")?,
            changes: tree("changes")?,
            room_members: tree("room_members")?,
            user_rooms: tree("user_rooms")?,
            public_rooms: tree("public_rooms")?,
            direct_rooms: tree("direct_rooms")?,
            invites: tree("invites")?,
            room_invites: tree("room_invites")?,
            meta: tree("meta")?,
            tokens: tree("tokens")?,
            user_tokens: tree("user_tokens")?,
            token_expiry: tree("token_expiry")?,
            webhooks: tree("webhooks")?,
            incoming_hooks: tree("incoming_hooks")?,
            deliveries: tree("deliveries")?,
            delivery_queue: tree("delivery_queue")?,
            read_markers: tree("read_markers")?,
            notification_levels: tree("notification_levels")?,
            mention_index: tree("mention_index")?,
            mention_totals: tree("mention_totals")?,
            push_subscriptions: tree("push_subscriptions")?,
            attachments: tree("attachments")?,
            room_attachments: tree("room_attachments")?,
            user_attachments: tree("user_attachments")?,
            identity_keys: tree("identity_keys")?,
            room_keys: tree("room_keys")?,
            search_marks: tree("search_marks")?,
            files: attachments::AttachmentFiles::new(dir),
            flushing: Default::default(),
            flushes: Default::default(),
            directory: Default::default(),
            markers: Default::default(),
            _dir_lock: std::sync::Arc::new(dir_lock),
            db,
        };
        store
            .files
            .clear_incoming()
            .map_err(|source| OpenError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        store.migrate().map_err(|err| OpenError::Migration {
            path: dir.display().to_string(),
            reason: err.to_string(),
        })?;
        Ok(store)
    }

    /// Makes every write issued before this call durable on disk.
    ///
    /// sled 0.34's `flush_async` can miss a wakeup when several run at once and then never
    /// complete (spacejam/sled#1308), which would hang every caller. So flushes run one at a
    /// time, as sled's blocking `flush` on tokio's blocking pool.
    ///
    /// Callers that queue up behind a flush share the next one: once a flush that started after
    /// a call has succeeded, every write issued before that call is durable, so the call returns
    /// without a flush of its own. Membership changes and the group committer flush this way
    /// without each paying for an fsync.
    pub async fn flush(&self) -> StoreResult<()> {
        use std::sync::atomic::Ordering;
        let started_before_call = self.flushes.started.load(Ordering::SeqCst);
        let _one_at_a_time = self.flushing.lock().await;
        if self.flushes.succeeded.load(Ordering::SeqCst) > started_before_call {
            return Ok(());
        }
        let this_flush = self.flushes.started.fetch_add(1, Ordering::SeqCst) + 1;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|err| StoreError::Corrupt(format!("the flush task failed: {err}")))??;
        self.flushes.succeeded.store(this_flush, Ordering::SeqCst);
        Ok(())
    }
}

/// The entries of a sled iterator, counted; the first read error ends the count. Never
/// `Iterator::count` (nor sled's `len`, which is that): after an I/O error sled's iterator keeps
/// failing at the same place, so a count of its items, errors included, never returned (the
/// search indexer hung in it after a failed write, and with it the server's shutdown and
/// reopening).
fn count_entries(entries: sled::Iter) -> StoreResult<usize> {
    let mut count = 0;
    for key in entries.keys() {
        key?;
        count += 1;
    }
    Ok(count)
}

/// Opens sled in `dir` with a bounded page cache, without the data directory's lock (the
/// caller holds it).
///
/// sled's background flusher is turned off: durability comes from our own group commit
/// (`Store::flush`), which decides exactly which writes are acknowledged as durable.
///
/// Callers hold the data directory's lock (`compact::DirLock`) first, so no other confab has the
/// engine open; a refusal of sled's own lock is then a handle this process just dropped, whose
/// I/O threads finish on their own a moment later, and the open is retried for up to 5 s.
fn open_engine(dir: &Path, cache_mb: u64) -> Result<sled::Db, OpenError> {
    let mut tries = 0;
    loop {
        match open_engine_once(dir, cache_mb) {
            Err(OpenError::Locked(_)) if tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

fn open_engine_once(dir: &Path, cache_mb: u64) -> Result<sled::Db, OpenError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(cache_mb * 1024 * 1024)
        .flush_every_ms(None)
        .open()
        .map_err(|source| {
            let path = dir.display().to_string();
            let text = source.to_string();
            if text.contains("could not acquire lock") || text.contains("WouldBlock") {
                OpenError::Locked(path)
            } else {
                OpenError::Other { path, source }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern that hangs sled 0.34's `flush_async` (spacejam/sled#1308): many concurrent
    /// write-then-flush tasks. Every one must finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flushes_all_complete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), 16).expect("open");
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .users
                        .insert(i.to_be_bytes(), &[1u8][..])
                        .expect("insert");
                    store.flush().await
                })
            })
            .collect();
        let all = futures_util::future::join_all(tasks);
        let results = tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("no flush hangs");
        assert!(results.into_iter().all(|r| matches!(r, Ok(Ok(())))));
    }
}
