//! sled behind one small typed API. Nothing outside this module sees a sled tree or builds a key;
//! the engine could be swapped by rewriting this module alone.

mod backup;
mod keys;
mod messages;
mod records;
mod rooms;
mod users;

use std::path::Path;

pub use backup::{BackupError, BackupOptions, BackupStats};
pub use keys::TOKEN_HASH_LEN;
pub use messages::Page;
pub use records::{MessageRecord, RoomRecord, SessionRecord, UserRecord};
pub use rooms::InsertRoom;

/// What can go wrong below the domain: the engine failed, or bytes on disk are not what we wrote.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("database holds corrupt data: {0}")]
    Corrupt(String),
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
}

/// Why a data directory could not be opened, in words an admin can act on.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the data directory {0} is in use by another confab process (sled allows one at a time)"
    )]
    Locked(String),
    #[error("cannot open the data directory {path}: {source}")]
    Other { path: String, source: sled::Error },
}

impl Store {
    /// Opens (creating if needed) the database in `dir` with a bounded page cache.
    ///
    /// sled's background flusher is turned off: durability comes from our own group commit
    /// (`flush`), which decides exactly which writes are acknowledged as durable.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self, OpenError> {
        let db = sled::Config::new()
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
            })?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|source| OpenError::Other {
                path: dir.display().to_string(),
                source,
            })
        };
        Ok(Self {
            users: tree("users")?,
            sessions: tree("sessions")?,
            user_sessions: tree("user_sessions")?,
            rooms: tree("rooms")?,
            room_names: tree("room_names")?,
            room_expiry: tree("room_expiry")?,
            messages: tree("messages")?,
            nonces: tree("nonces")?,
            db,
        })
    }

    /// Makes every write issued before this call durable on disk.
    pub async fn flush(&self) -> StoreResult<()> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Blocking flush, for shutdown paths outside the runtime.
    pub fn flush_blocking(&self) -> StoreResult<()> {
        self.db.flush()?;
        Ok(())
    }
}
