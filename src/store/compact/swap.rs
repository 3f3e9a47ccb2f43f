//! The file side of a compaction: the data directory's lock, the swap of the old engine files
//! for the new ones, and the recovery rule that finishes or undoes a swap a crash interrupted.
//!
//! Every step is one rename, creation or removal, and the directory is fsynced after each group,
//! so after a crash the directory holds exactly the steps taken before it. Which state it is in
//! is told by two names only:
//!
//! | found in the data directory              | meaning                                  | recovery                                   |
//! |------------------------------------------|------------------------------------------|--------------------------------------------|
//! | `db.compacting/`, no `compact.swap`      | a copy being built or checked            | remove it; the old database never moved    |
//! | `compact.swap` saying `out`              | the copy is complete and verified; the old files are moving into `db.old/` | move the rest out, then as `in` |
//! | `compact.swap` saying `in`               | every old file is in `db.old/`; the new ones are moving in | move the rest in, remove the marker and `db.old/` |
//! | `db.old/`, no `compact.swap`             | the swap finished, the old files were being removed | remove it                        |
//!
//! `compact.swap` is written whole (to `compact.swap.tmp`, fsynced, then renamed), so it is
//! either absent or complete; a leftover `compact.swap.tmp` is the previous phase's intent not
//! yet taken and is removed. Before the marker exists the old database is untouched; from the
//! moment it exists the new copy is complete, fsynced and verified, and recovery only ever rolls
//! forward.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Where the new copy is built, inside the data directory.
pub(super) const BUILDING: &str = "db.compacting";
/// Where the old engine files wait during the swap, until they are removed.
pub(super) const RETIRED: &str = "db.old";
/// Present only during a swap: its phase, `out` or `in`.
pub(super) const MARKER: &str = "compact.swap";
const MARKER_TMP: &str = "compact.swap.tmp";

/// The file sled keeps its log in; a data directory without it holds no database.
pub(super) const ENGINE_LOG: &str = "db";

/// Whether a data directory entry is one of sled 0.34's own: `conf`, `db`, `blobs/` and the
/// `snap.*` snapshots. Everything else there (the control socket, backups an admin keeps there,
/// the compaction's own names) is never moved.
pub(super) fn is_engine_entry(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name == "conf" || name == ENGINE_LOG || name == "blobs" || name.starts_with("snap.")
}

/// An exclusive `flock` on the data directory itself, held by every open `Store` and by a
/// compaction from its first step to its last. sled's own lock is on its `db` file, which a
/// swap renames away; this one is on the directory, which stays, so a server starting during a
/// swap (or while a leftover is recovered) is refused instead of opening half a database.
/// Released when dropped (the descriptor closes; it is never inherited by child processes).
pub(crate) struct DirLock {
    _dir: File,
}

impl DirLock {
    /// Takes the lock, or returns `None` at once when another process (or another open in this
    /// one) holds it.
    pub(crate) fn try_acquire(dir: &Path) -> io::Result<Option<Self>> {
        let file = File::open(dir)?;
        match fs2::FileExt::try_lock_exclusive(&file) {
            Ok(()) => Ok(Some(Self { _dir: file })),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// Counts filesystem steps. In production every step runs; a test stops after a given number of
/// steps, as a crash would, to check that recovery handles every intermediate state.
pub(super) struct Steps {
    left: Option<usize>,
}

impl Steps {
    pub(super) fn all() -> Self {
        Self { left: None }
    }

    #[cfg(test)]
    pub(super) fn stop_after(steps: usize) -> Self {
        Self { left: Some(steps) }
    }

    fn next(&mut self) -> io::Result<()> {
        match &mut self.left {
            Some(0) => Err(io::Error::other("simulated crash")),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Out,
    In,
}

/// What recovery found and did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recovered {
    Nothing,
    /// An unfinished copy was removed; the old database stays.
    DiscardedCopy,
    /// An interrupted swap was finished; the compacted database is in place.
    FinishedSwap,
    /// The old files of a finished swap were removed.
    RemovedOld,
}

/// Replaces the engine files of `dir` with those in `dir/db.compacting`, which must be a
/// complete, fsynced and verified copy. Returns once the old files are gone.
pub(super) fn swap(dir: &Path, steps: &mut Steps) -> io::Result<()> {
    write_phase(dir, Phase::Out, steps)?;
    finish(dir, Phase::Out, steps)
}

/// Brings `dir` back to one database after a crash (see the module's table). Run under the
/// directory lock before sled opens `dir`, by every open and by every compaction.
pub(super) fn recover(dir: &Path, steps: &mut Steps) -> io::Result<Recovered> {
    let tmp = dir.join(MARKER_TMP);
    if tmp.exists() {
        steps.next()?;
        fs::remove_file(&tmp)?;
    }
    if let Some(phase) = read_phase(dir)? {
        finish(dir, phase, steps)?;
        return Ok(Recovered::FinishedSwap);
    }
    let mut recovered = Recovered::Nothing;
    if dir.join(BUILDING).exists() {
        steps.next()?;
        fs::remove_dir_all(dir.join(BUILDING))?;
        sync_dir(dir)?;
        recovered = Recovered::DiscardedCopy;
    }
    if dir.join(RETIRED).exists() {
        remove_retired(dir, steps)?;
        recovered = Recovered::RemovedOld;
    }
    Ok(recovered)
}

/// Takes the swap from `phase` to its end. Every step can be taken again after a crash.
fn finish(dir: &Path, phase: Phase, steps: &mut Steps) -> io::Result<()> {
    let building = dir.join(BUILDING);
    if phase == Phase::Out {
        if !building.join(ENGINE_LOG).exists() {
            // Only a hand-made change gets here: refuse rather than leave no database.
            return Err(io::Error::other(format!(
                "{MARKER} says a swap is under way, but the compacted copy {} is missing; \
                 move the files of {} back into {} and remove {MARKER}",
                building.display(),
                dir.join(RETIRED).display(),
                dir.display()
            )));
        }
        let retired = dir.join(RETIRED);
        if !retired.exists() {
            steps.next()?;
            fs::DirBuilder::new().mode(0o700).create(&retired)?;
            sync_dir(dir)?;
        }
        for name in engine_entries(dir)? {
            steps.next()?;
            fs::rename(dir.join(&name), retired.join(&name))?;
        }
        sync_dir(&retired)?;
        sync_dir(dir)?;
        write_phase(dir, Phase::In, steps)?;
    }
    if building.exists() {
        for entry in fs::read_dir(&building)? {
            let name = entry?.file_name();
            steps.next()?;
            fs::rename(building.join(&name), dir.join(&name))?;
        }
        sync_dir(dir)?;
        steps.next()?;
        fs::remove_dir(&building)?;
        sync_dir(dir)?;
    }
    if !dir.join(ENGINE_LOG).exists() {
        return Err(io::Error::other(format!(
            "{MARKER} says the compacted files were moved in, but {} has no {ENGINE_LOG} file; \
             the old files are in {}",
            dir.display(),
            dir.join(RETIRED).display()
        )));
    }
    steps.next()?;
    fs::remove_file(dir.join(MARKER))?;
    sync_dir(dir)?;
    remove_retired(dir, steps)
}

fn remove_retired(dir: &Path, steps: &mut Steps) -> io::Result<()> {
    let retired = dir.join(RETIRED);
    if retired.exists() {
        steps.next()?;
        fs::remove_dir_all(&retired)?;
        sync_dir(dir)?;
    }
    Ok(())
}

fn read_phase(dir: &Path) -> io::Result<Option<Phase>> {
    match fs::read(dir.join(MARKER)) {
        Ok(bytes) => match bytes.as_slice() {
            b"out\n" => Ok(Some(Phase::Out)),
            b"in\n" => Ok(Some(Phase::In)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} holds {:?}, not a phase; inspect the data directory by hand",
                    dir.join(MARKER).display(),
                    String::from_utf8_lossy(other)
                ),
            )),
        },
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Writes the marker whole: a temporary file, fsynced, renamed over the marker, then the
/// directory fsynced, so a crash leaves the previous phase or this one.
fn write_phase(dir: &Path, phase: Phase, steps: &mut Steps) -> io::Result<()> {
    let tmp = dir.join(MARKER_TMP);
    steps.next()?;
    let mut file = File::create(&tmp)?;
    file.write_all(match phase {
        Phase::Out => b"out\n",
        Phase::In => b"in\n",
    })?;
    file.sync_all()?;
    drop(file);
    steps.next()?;
    fs::rename(&tmp, dir.join(MARKER))?;
    sync_dir(dir)
}

/// The engine's entries in `dir`, sorted (the order of `read_dir` is the file system's).
fn engine_entries(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if is_engine_entry(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The size of the engine's files in `dir`, in bytes.
pub(super) fn engine_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for name in engine_entries(dir)? {
        total += tree_bytes(&dir.join(name))?;
    }
    Ok(total)
}

fn tree_bytes(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        total += tree_bytes(&entry?.path())?;
    }
    Ok(total)
}

/// Makes the names in a directory durable (a rename or a new file is only there for sure after
/// its directory is fsynced).
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// fsyncs every file and directory under `path`, `path` included. sled syncs its log on flush
/// but writes `conf` without a sync and never syncs its directories.
pub(super) fn sync_all_under(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            sync_all_under(&entry?.path())?;
        }
    }
    File::open(path)?.sync_all()
}
