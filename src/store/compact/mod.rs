//! Compaction: rewriting the database into fresh files, offline.
//!
//! sled 0.34 is log-structured: a write appends the new version of a page to its log, and the
//! old version's bytes stay in their segment until sled reuses that segment (its cleaner frees
//! segments whose live data has dropped low; nothing says when). So the bytes of a message body
//! erased by a deletion, or of a room the sweeper deleted, can stay in the data directory's
//! files, and the files grow well beyond the live data (space amplification of 2x and more). A
//! fresh database that holds only the current records has neither.
//!
//! How `Store::compact` never loses data:
//!
//! 1. It takes the data directory's lock ([`swap::DirLock`]; every open holds it, so no server
//!    can start meanwhile) and finishes or removes whatever an interrupted compaction left
//!    (the recovery rule in [`swap`]).
//! 2. It copies every tree, every key and value as stored, from the database into a new one in
//!    `<data>/db.compacting/`, flushes it, and fsyncs every file and directory of it. The copy
//!    goes below the typed API on purpose: it must carry every tree, including ones a newer
//!    confab wrote, byte for byte, and it builds no key.
//! 3. It opens the copy again from disk and compares it with the database, tree by tree, key by
//!    key, value by value. Any difference removes the copy and leaves the database as it was.
//! 4. Only then does it swap the files (see [`swap`]): a crash at any point leaves the old
//!    database in place (the copy is removed at the next open), or the complete new one, which
//!    the next open or compaction finishes moving in.

mod swap;

#[cfg(test)]
mod tests;

use std::path::Path;

use sled::Batch;

pub(crate) use swap::DirLock;
use swap::{Recovered, Steps};

use super::{open_engine, OpenError, StoreError};
use crate::store::Store;

/// Copies are applied to the new database in batches of about this many bytes.
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Size of the engine's files before and after, in bytes.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Trees (including sled's default tree) and records copied.
    pub trees: u64,
    pub records: u64,
}

/// Why a compaction did not happen, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("the data directory {0} does not exist")]
    Missing(String),
    #[error("the data path {0} is not a directory")]
    NotADirectory(String),
    #[error("the data directory {0} holds no database")]
    NoDatabase(String),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("compaction failed on {path}: {source}; the database was left as it was")]
    Copy {
        path: String,
        source: std::io::Error,
    },
    #[error("the compacted copy differs from the database ({0}); the database was left as it was")]
    Mismatch(String),
    #[error("{0}; the database was left as it was")]
    Store(#[from] StoreError),
    #[error(
        "the swap of the compacted files in {path} stopped: {source}; the next `confab serve` or \
         `confab compact` finishes it (the compacted copy is complete)"
    )]
    Swap {
        path: String,
        source: std::io::Error,
    },
}

impl From<sled::Error> for CompactError {
    fn from(err: sled::Error) -> Self {
        Self::Store(StoreError::Sled(err))
    }
}

impl Store {
    /// Whether `dir` holds a database (or a compaction's swap that will put one in place).
    pub fn database_in(dir: &Path) -> bool {
        dir.join(swap::ENGINE_LOG).exists() || dir.join(swap::MARKER).exists()
    }

    /// Rewrites the database in `dir` into fresh files holding only its current records (see
    /// the module). Nothing may have the database open: an open `Store`, in this process or
    /// another, makes this fail with `OpenError::Locked`. Blocking; may take a while on a large
    /// database (it reads everything twice and writes it once).
    pub fn compact(dir: &Path, cache_mb: u64) -> Result<CompactStats, CompactError> {
        Self::compact_with(dir, cache_mb, &mut Steps::all())
    }

    fn compact_with(
        dir: &Path,
        cache_mb: u64,
        steps: &mut Steps,
    ) -> Result<CompactStats, CompactError> {
        let shown = || dir.display().to_string();
        if !dir.exists() {
            return Err(CompactError::Missing(shown()));
        }
        if !dir.is_dir() {
            return Err(CompactError::NotADirectory(shown()));
        }
        let _lock = lock(dir)?;
        recover_logged(dir)?;
        if !dir.join(swap::ENGINE_LOG).exists() {
            return Err(CompactError::NoDatabase(shown()));
        }
        let copy_failed = |source| CompactError::Copy {
            path: shown(),
            source,
        };
        let bytes_before = swap::engine_bytes(dir).map_err(copy_failed)?;
        let building = dir.join(swap::BUILDING);
        let built = build_copy(dir, &building, cache_mb);
        if built.is_err() {
            let _ = std::fs::remove_dir_all(&building);
        }
        let (trees, records) = built?;
        // Measured before the swap, which moves these very files into place.
        let bytes_after = swap::engine_bytes(&building).map_err(copy_failed)?;
        swap::swap(dir, steps).map_err(|source| CompactError::Swap {
            path: shown(),
            source,
        })?;
        Ok(CompactStats {
            bytes_before,
            bytes_after,
            trees,
            records,
        })
    }
}

/// Takes the data directory's lock for an open of `dir`, and finishes whatever an interrupted
/// compaction left there.
pub(super) fn lock_and_recover(dir: &Path) -> Result<DirLock, OpenError> {
    let lock = lock(dir)?;
    recover_logged(dir)?;
    Ok(lock)
}

fn lock(dir: &Path) -> Result<DirLock, OpenError> {
    match DirLock::try_acquire(dir) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(OpenError::Locked(dir.display().to_string())),
        Err(source) => Err(OpenError::Io {
            path: dir.display().to_string(),
            source,
        }),
    }
}

fn recover_logged(dir: &Path) -> Result<(), OpenError> {
    let recovered =
        swap::recover(dir, &mut Steps::all()).map_err(|err| OpenError::Interrupted {
            path: dir.display().to_string(),
            reason: err.to_string(),
        })?;
    match recovered {
        Recovered::Nothing => {}
        Recovered::DiscardedCopy => tracing::warn!(
            data = %dir.display(),
            "removed the unfinished copy of an interrupted `confab compact`; the database is as before it"
        ),
        Recovered::FinishedSwap => tracing::warn!(
            data = %dir.display(),
            "finished the file swap of an interrupted `confab compact`; the compacted database is in place"
        ),
        Recovered::RemovedOld => tracing::info!(
            data = %dir.display(),
            "removed the old files left by an interrupted `confab compact`"
        ),
    }
    Ok(())
}

/// Builds the verified, fsynced copy of the database in `dir` at `building`; returns how many
/// trees and records it holds. Every handle on either database is closed when this returns.
fn build_copy(dir: &Path, building: &Path, cache_mb: u64) -> Result<(u64, u64), CompactError> {
    use std::os::unix::fs::DirBuilderExt;
    let copy_failed = |source| CompactError::Copy {
        path: building.display().to_string(),
        source,
    };
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(building)
        .map_err(copy_failed)?;
    let old = open_engine(dir, cache_mb)?;
    let counts = {
        let new = open_engine(building, cache_mb)?;
        let counts = copy_trees(&old, &new)?;
        new.flush()?;
        counts
    };
    swap::sync_all_under(building).map_err(copy_failed)?;
    let new = open_engine(building, cache_mb)?;
    compare(&old, &new)?;
    drop((old, new));
    // Opening wrote a snapshot file into the copy: sync once more.
    swap::sync_all_under(building).map_err(copy_failed)?;
    Ok(counts)
}

/// Copies every tree of `from` into `to`, which is empty. Returns (trees, records).
fn copy_trees(from: &sled::Db, to: &sled::Db) -> Result<(u64, u64), CompactError> {
    let (mut trees, mut records) = (0, 0);
    for name in from.tree_names() {
        let source = from.open_tree(&name)?;
        let target = to.open_tree(&name)?;
        let mut batch = Batch::default();
        let mut pending = 0;
        for entry in source.iter() {
            let (key, value) = entry?;
            pending += key.len() + value.len();
            batch.insert(key, value);
            records += 1;
            if pending >= BATCH_BYTES {
                target.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        target.apply_batch(batch)?;
        trees += 1;
    }
    Ok((trees, records))
}

/// Checks that `copy` holds exactly the trees, keys and values of `original`.
fn compare(original: &sled::Db, copy: &sled::Db) -> Result<(), CompactError> {
    let mut names = original.tree_names();
    let mut copied = copy.tree_names();
    names.sort();
    copied.sort();
    if names != copied {
        return Err(CompactError::Mismatch(format!(
            "{} trees, the copy {}",
            names.len(),
            copied.len()
        )));
    }
    for name in names {
        let (a, b) = (original.open_tree(&name)?, copy.open_tree(&name)?);
        let (mut left, mut right) = (a.iter(), b.iter());
        loop {
            match (left.next().transpose()?, right.next().transpose()?) {
                (None, None) => break,
                (Some(x), Some(y)) if x == y => {}
                _ => {
                    return Err(CompactError::Mismatch(format!(
                        "tree {:?}",
                        String::from_utf8_lossy(&name)
                    )))
                }
            }
        }
    }
    Ok(())
}
