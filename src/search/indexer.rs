//! The indexer: one thread that reads what changed from the store and writes it into the
//! index, committing at most every `commit_every`. It never touches the chat's hot path: the
//! committer only marks rooms (`ChangedRooms`), and the indexer catches up from the store, so a
//! burst it cannot follow only makes it read bigger pages later. After a crash it starts from
//! the marks of its last commit and indexes the gap again; a message indexed twice replaces
//! itself.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tantivy::{IndexWriter, TantivyDocument};

use super::index::{Payload, SearchIndex, SCHEMA_VERSION};
use super::{Progress, Shared, State};
use crate::chat::changed_rooms::RoomChange;
use crate::ids::RoomId;
use crate::store::{MessageRecord, Page, Store, StoreError};

/// Messages read from the store at a time.
const PAGE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("reading messages to index: {0}")]
    Store(#[from] StoreError),
}

pub struct Indexer {
    pub(super) store: Store,
    pub(super) index: Arc<SearchIndex>,
    pub(super) writer: IndexWriter<TantivyDocument>,
    /// Per room, the highest message or change number indexed.
    pub(super) marks: HashMap<RoomId, u64>,
    /// Rooms read since the last commit, with their new marks.
    moved: HashMap<RoomId, u64>,
    deleted: Vec<RoomId>,
    /// Whether anything was written since the last commit.
    dirty: bool,
    /// Until each room has been read once, messages after its mark may already be in the
    /// index (a commit whose marks were not saved): they are replaced, not added.
    reconciled: std::collections::HashSet<RoomId>,
    /// False from `clear` until a rebuild has read every room: commits say so, and an index
    /// left that way is rebuilt at the next start.
    complete: bool,
}

impl Indexer {
    pub fn new(
        store: Store,
        index: Arc<SearchIndex>,
        memory_bytes: usize,
    ) -> Result<Self, IndexError> {
        let writer = index.index.writer_with_num_threads(1, memory_bytes)?;
        let marks = store.search_marks()?;
        Ok(Self {
            store,
            index,
            writer,
            marks,
            moved: HashMap::new(),
            deleted: Vec::new(),
            dirty: false,
            reconciled: Default::default(),
            complete: true,
        })
    }

    /// Empties the index and forgets every mark, for a rebuild.
    pub fn clear(&mut self) -> Result<(), IndexError> {
        self.writer.delete_all_documents()?;
        self.store.clear_search_marks()?;
        self.marks.clear();
        self.moved.clear();
        self.reconciled.clear();
        self.complete = false;
        self.dirty = true;
        self.commit()?;
        Ok(())
    }

    /// Applies one batch of changed rooms.
    pub fn apply(&mut self, rooms: HashMap<RoomId, RoomChange>) -> Result<(), IndexError> {
        for (room, change) in rooms {
            match change {
                RoomChange::Deleted => {
                    self.writer.delete_term(self.index.room_term(room));
                    self.marks.remove(&room);
                    self.moved.remove(&room);
                    self.deleted.push(room);
                    self.dirty = true;
                }
                RoomChange::Messages => self.catch_up(room, None)?,
            }
        }
        Ok(())
    }

    /// Reads what `room` gained or changed since its mark and indexes it.
    fn catch_up(&mut self, room: RoomId, progress: Option<&Progress>) -> Result<(), IndexError> {
        let mark = self.marks.get(&room).copied().unwrap_or(0);
        let last = self.store.last_seq(room)?;
        if last <= mark {
            return Ok(());
        }
        let replace_new = !self.reconciled.contains(&room);
        // Messages sent after the mark, in their current state.
        let mut after = mark;
        loop {
            let page = Page {
                after: Some(after),
                before: Some(last.saturating_add(1)),
                limit: PAGE,
            };
            let messages = self.store.messages(room, page)?;
            let Some((newest, _)) = messages.last() else {
                break;
            };
            after = *newest;
            let count = messages.len();
            for (seq, record) in messages {
                self.put(room, seq, &record, replace_new);
            }
            if let Some(progress) = progress {
                progress.done.fetch_add(count as u64, Ordering::Relaxed);
            }
            if count < PAGE {
                break;
            }
        }
        // Older messages edited or deleted since the mark.
        if mark > 0 {
            let mut from = mark;
            loop {
                let changed = self.store.changed_since(room, mark, from, last, PAGE)?;
                for (seq, record) in changed.messages {
                    self.put(room, seq, &record, true);
                }
                match changed.resume_after {
                    Some(resume) => from = resume,
                    None => break,
                }
            }
        }
        self.reconciled.insert(room);
        self.marks.insert(room, last);
        self.moved.insert(room, last);
        self.dirty = true;
        Ok(())
    }

    fn put(&mut self, room: RoomId, seq: u64, record: &MessageRecord, replace: bool) {
        if replace {
            self.writer.delete_term(self.index.message_term(room, seq));
        }
        if let Some(doc) = self.index.document(room, seq, record) {
            // Fails only when the writer's threads died, which the commit then reports.
            let _ = self.writer.add_document(doc);
        }
    }

    /// Makes everything written so far durable and searchable, then saves the marks.
    pub fn commit(&mut self) -> Result<(), IndexError> {
        if !self.dirty {
            return Ok(());
        }
        let payload = serde_json::to_string(&Payload {
            schema: SCHEMA_VERSION,
            complete: self.complete,
        })
        .unwrap_or_default();
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.index.reader.reload()?;
        let moved: Vec<(RoomId, u64)> = self.moved.drain().collect();
        self.store.set_search_marks(&moved)?;
        let deleted = std::mem::take(&mut self.deleted);
        self.store.forget_search_marks(&deleted)?;
        self.dirty = false;
        Ok(())
    }

    pub fn finish(self) {
        if let Err(err) = self.writer.wait_merging_threads() {
            tracing::warn!(error = %err, "search index merges did not finish cleanly");
        }
    }
}

/// Rooms read between two commits while catching up on all of them, so the marks held in
/// memory stay bounded (the writer flushes its own segments by memory).
const ROOMS_PER_COMMIT: usize = 256;

/// The indexer thread's loop: rebuild when asked (or needed at start), otherwise catch up on
/// every room once (what a crash left unindexed), then follow the chat.
pub(super) fn run(mut indexer: Indexer, shared: Arc<Shared>, rebuild_at_start: bool) {
    let feed = shared.feed.clone();
    let mut rebuild = rebuild_at_start;
    if !rebuild {
        let caught_up =
            index_every_room(&mut indexer, &shared, None).and_then(|_| indexer.commit());
        if let Err(err) = caught_up {
            tracing::error!(error = %err, "catching up the search index failed; it is rebuilt");
            rebuild = true;
        }
    }
    loop {
        if shared.stopping() {
            break;
        }
        if rebuild || shared.rebuild_requested.swap(false, Ordering::AcqRel) {
            rebuild = false;
            if let Err(err) = rebuild_all(&mut indexer, &shared) {
                tracing::error!(error = %err, "rebuilding the search index failed; retrying in 5 s");
                shared.set_state(State::Failed(err.to_string()));
                std::thread::sleep(Duration::from_secs(5));
                rebuild = true;
            }
            continue;
        }
        let taken = feed.take(shared.commit_every);
        if taken.rooms.is_empty() {
            shared.metrics.search_lag(0.0);
            continue;
        }
        let started = Instant::now();
        match indexer.apply(taken.rooms).and_then(|()| indexer.commit()) {
            Ok(()) => {
                let lag = taken.oldest.map_or(0.0, |at| at.elapsed().as_secs_f64());
                shared.metrics.search_lag(lag);
                shared
                    .metrics
                    .search_indexed(started.elapsed().as_secs_f64());
            }
            Err(err) => {
                // The store is the truth: start over.
                tracing::error!(error = %err, "indexing failed; the search index is rebuilt");
                rebuild = true;
            }
        }
        // Pace commits: what arrives meanwhile goes into the next one.
        let rest = shared.commit_every.saturating_sub(started.elapsed());
        if !rest.is_zero() && !shared.stopping() {
            std::thread::sleep(rest);
        }
    }
    if let Err(err) = indexer.commit() {
        tracing::warn!(error = %err, "the last search index commit failed; the gap is indexed at next start");
    }
    indexer.finish();
    tracing::debug!("search indexer stopped");
}

/// Reads every room from its mark, and drops the documents of rooms deleted while their
/// deletion had not reached the index (a crash in between). Returns false when stopped before
/// the end.
fn index_every_room(
    indexer: &mut Indexer,
    shared: &Shared,
    progress: Option<&Progress>,
) -> Result<bool, IndexError> {
    let rooms = indexer.store.room_ids()?;
    let live: std::collections::HashSet<RoomId> = rooms.iter().copied().collect();
    let gone: HashMap<RoomId, RoomChange> = indexer
        .marks
        .keys()
        .filter(|room| !live.contains(room))
        .map(|room| (*room, RoomChange::Deleted))
        .collect();
    indexer.apply(gone)?;
    let mut last_log = Instant::now();
    for room in rooms {
        if shared.stopping() {
            return Ok(false);
        }
        indexer.catch_up(room, progress)?;
        if indexer.moved.len() >= ROOMS_PER_COMMIT {
            indexer.commit()?;
        }
        if let Some(progress) = progress {
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
                tracing::info!(
                    indexed = progress.done.load(Ordering::Relaxed),
                    of = progress.total,
                    "rebuilding the search index"
                );
            }
        }
    }
    Ok(true)
}

fn rebuild_all(indexer: &mut Indexer, shared: &Shared) -> Result<(), IndexError> {
    let total = indexer.store.message_count()? as u64;
    let progress = Progress::starting(total);
    shared.set_state(State::Rebuilding(progress.clone()));
    let started = Instant::now();
    tracing::info!(messages = total, "rebuilding the search index");
    indexer.clear()?;
    // Rooms marked from here on are read by the rebuild anyway (reading twice is harmless).
    let _ = shared.feed.take(Duration::ZERO);
    if !index_every_room(indexer, shared, Some(&progress))? {
        return Ok(());
    }
    indexer.complete = true;
    indexer.dirty = true;
    indexer.commit()?;
    tracing::info!(
        messages = progress.done.load(Ordering::Relaxed),
        seconds = started.elapsed().as_secs_f64(),
        "the search index is rebuilt"
    );
    shared.set_state(State::Ready);
    Ok(())
}
