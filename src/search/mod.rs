//! Full-text search over the messages a user may read (issue 14): an embedded tantivy index in
//! `<data>/search`, kept in step with the store by a background indexer, and queried with a
//! small syntax of words, phrases, exclusions and filters. The index is derived data: never
//! backed up, rebuilt from the store when missing, damaged or of an older schema, and on demand
//! (`confab search reindex`); meanwhile searches answer 503 `reindexing` and chat goes on.

pub mod analyzer;
mod index;
mod indexer;
mod newest;
pub mod query;
mod searcher;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use index::SearchIndex;
pub use index::{Rebuild, DIR_NAME};
use indexer::Indexer;
pub use searcher::Cursor;
use searcher::{Found, Plan, SearchFailure};

use crate::chat::changed_rooms::ChangedRooms;
use crate::chat::model::{Message, RoomInfo, User};
use crate::chat::Chat;
use crate::config::SearchConfig;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::low_priority::{LowPriorityPool, NoAnswer};
use crate::metrics::Metrics;
use crate::ws::rate::KeyedRates;

/// How many results a page has unless asked, and at most.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// A search as asked over HTTP, before validation.
#[derive(Debug, Default)]
pub struct SearchRequest {
    pub q: String,
    pub room: Option<String>,
    pub author: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

pub struct SearchHit {
    pub message: Arc<Message>,
    pub room: RoomInfo,
    pub snippet: String,
}

pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub next_cursor: Option<String>,
    /// The time budget ran out before every part of the index was searched.
    pub truncated: bool,
}

/// How far a rebuild has come.
#[derive(Clone)]
pub struct Progress {
    pub done: Arc<AtomicU64>,
    pub total: u64,
}

impl Progress {
    fn starting(total: u64) -> Self {
        Self {
            done: Arc::new(AtomicU64::new(0)),
            total,
        }
    }
}

#[derive(Clone)]
pub enum State {
    Ready,
    Rebuilding(Progress),
    /// The index cannot be written (disk full, damaged files): retried.
    Failed(String),
}

/// What the indexer thread and the request handlers share.
pub(crate) struct Shared {
    feed: Arc<ChangedRooms>,
    state: RwLock<State>,
    rebuild_requested: AtomicBool,
    stop: AtomicBool,
    commit_every: Duration,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn set_state(&self, state: State) {
        if let Ok(mut current) = self.state.write() {
            *current = state;
        }
    }

    fn state(&self) -> State {
        self.state
            .read()
            .map(|s| s.clone())
            .unwrap_or(State::Failed("state lock poisoned".into()))
    }
}

/// Where the search service stands, for `confab search status` and the admin socket.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// `ready`, `rebuilding` or `failed`.
    pub state: String,
    pub indexed: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Search {
    shared: Arc<Shared>,
    index: Arc<SearchIndex>,
    chat: Arc<Chat>,
    settings: SearchConfig,
    rates: KeyedRates,
    /// `search.threads` threads at `search.nice`.
    threads: LowPriorityPool,
    indexer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Search {
    /// Opens (or creates) the index in the data directory and starts the indexer thread, which
    /// first rebuilds the index if it must and catches up on what it missed.
    pub fn start(
        data: &Path,
        chat: Arc<Chat>,
        settings: SearchConfig,
    ) -> anyhow::Result<Arc<Self>> {
        let (index, rebuild) = SearchIndex::open(data)?;
        if let Some(why) = &rebuild {
            tracing::info!(reason = %why, "the search index will be rebuilt from the store");
        }
        let index = Arc::new(index);
        let feed = chat.changed_rooms();
        feed.subscribe();
        let memory = (settings.writer_memory_mb as usize).saturating_mul(1 << 20);
        // The indexer and tantivy's threads stay at the server's priority: at a lower one
        // (measured at nice 10) the fan-out's p99.9 went from 26-99 ms to 241-249 ms, the
        // stalls of a lowered thread holding what the chat's workers wait for.
        let indexer = Indexer::new(chat.store().clone(), index.clone(), memory)?;
        // The rebuild counts the messages (a scan of the store) on its own thread.
        let state = match &rebuild {
            Some(_) => State::Rebuilding(Progress::starting(0)),
            None => State::Ready,
        };
        let shared = Arc::new(Shared {
            feed,
            state: RwLock::new(state),
            rebuild_requested: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            commit_every: settings.commit_interval,
            metrics: chat.metrics().clone(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || indexer::run(indexer, thread_shared, rebuild.is_some()))?;
        Ok(Arc::new(Self {
            shared,
            index,
            chat,
            rates: KeyedRates::per_minute(settings.per_minute, settings.burst),
            threads: LowPriorityPool::new("search", settings.threads, settings.nice)?,
            settings,
            indexer: Mutex::new(Some(thread)),
        }))
    }

    /// Stops the indexer once `shutdown` is cancelled: it commits what it has, so the next
    /// start has little to catch up on.
    pub async fn run_until(self: Arc<Self>, shutdown: CancellationToken) {
        shutdown.cancelled().await;
        self.shared.stop.store(true, Ordering::Release);
        self.shared.feed.nudge();
        let thread = self.indexer.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// Empties the index and fills it again from the store, in the background.
    pub fn request_rebuild(&self) {
        self.shared
            .set_state(State::Rebuilding(Progress::starting(0)));
        self.shared.rebuild_requested.store(true, Ordering::Release);
        self.shared.feed.nudge();
    }

    pub fn status(&self) -> Status {
        match self.shared.state() {
            State::Ready => Status {
                state: "ready".into(),
                indexed: 0,
                total: 0,
                error: None,
            },
            State::Rebuilding(progress) => Status {
                state: "rebuilding".into(),
                indexed: progress.done.load(Ordering::Relaxed),
                total: progress.total,
                error: None,
            },
            State::Failed(error) => Status {
                state: "failed".into(),
                indexed: 0,
                total: 0,
                error: Some(error),
            },
        }
    }

    /// Runs a search for `user` over the rooms they may read now. Everything past the rate
    /// and state checks (the query, the readable rooms, the index, the hits' rooms) runs on the
    /// lowered search threads: a search costs the chat's workers only its HTTP exchange.
    pub async fn search(
        self: &Arc<Self>,
        user: &User,
        request: SearchRequest,
    ) -> Result<SearchResults> {
        self.take_token(&user.username)?;
        match self.shared.state() {
            State::Ready => {}
            State::Rebuilding(progress) => {
                return Err(Error::Disabled {
                    code: "reindexing",
                    message: format!(
                        "the search index is being rebuilt ({} of {} messages); chat works as \
                         usual, try searching again shortly",
                        progress.done.load(Ordering::Relaxed),
                        progress.total
                    ),
                })
            }
            State::Failed(_) => {
                return Err(Error::Disabled {
                    code: "reindexing",
                    message: "the search index is being repaired; try again shortly".into(),
                })
            }
        }
        let (this, user) = (self.clone(), user.clone());
        let started = Instant::now();
        let answer = self
            .threads
            .run(move || this.search_on_this_thread(&user, &request, started))
            .await;
        answer.unwrap_or_else(|NoAnswer| {
            tracing::error!("a search ended without an answer");
            Err(Error::Disabled {
                code: "search_failed",
                message: "the search could not be completed; try again shortly".into(),
            })
        })
    }

    fn search_on_this_thread(
        &self,
        user: &User,
        request: &SearchRequest,
        started: Instant,
    ) -> Result<SearchResults> {
        let invalid = |message: String| Error::invalid("invalid_query", message);
        let parsed = query::parse(&request.q).map_err(|e| invalid(e.0))?;
        let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let cursor = match &request.cursor {
            Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
                invalid("cursor is not one this server gave; start again without it".into())
            })?),
            None => None,
        };
        let date = |value: &Option<String>, name: &str, after: bool| {
            value
                .as_deref()
                .map(|v| query::date_param(v, name, after).map_err(|e| invalid(e.0)))
                .transpose()
        };
        let before_ms = min_some(parsed.before_ms, date(&request.before, "before", false)?);
        let after_ms = max_some(parsed.after_ms, date(&request.after, "after", true)?);
        let author = match (&parsed.from, &request.author) {
            (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
                return Err(invalid(format!(
                    "from:{a} and author={b} ask for two different authors"
                )))
            }
            (Some(a), _) => Some(a.clone()),
            (None, Some(b)) => Some(b.trim_start_matches('@').to_lowercase()),
            (None, None) => None,
        };
        let rooms = self.rooms_to_search(user, request, &parsed)?;
        let plan = Plan {
            parsed: &parsed,
            rooms,
            author,
            before_ms,
            after_ms,
            limit,
            cursor,
            deadline: started + self.settings.time_budget,
        };
        let found = match searcher::run(&self.index, self.chat.store(), plan) {
            Ok(found) => found,
            Err(SearchFailure::NoWords) => {
                return Err(invalid(
                    "nothing to search for: the query has no words (only punctuation?)".into(),
                ))
            }
            Err(SearchFailure::Store(err)) => return Err(err.into()),
            Err(SearchFailure::Index(err)) => {
                tracing::error!(error = %err, "search failed");
                return Err(Error::Disabled {
                    code: "search_failed",
                    message: "the search index could not be read; try again shortly".into(),
                });
            }
        };
        self.chat
            .metrics()
            .search_answered(started.elapsed().as_secs_f64(), found.truncated);
        self.results(user, found)
    }

    fn take_token(&self, username: &str) -> Result<()> {
        self.rates
            .try_take(username)
            .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })
    }

    /// The rooms a search covers: those `user` may read now (never encrypted ones, which the
    /// server cannot read), narrowed by `room=` and `in:`.
    fn rooms_to_search(
        &self,
        user: &User,
        request: &SearchRequest,
        parsed: &query::ParsedQuery,
    ) -> Result<Vec<RoomId>> {
        let (encrypted, readable): (Vec<_>, Vec<_>) = self
            .chat
            .readable_rooms(user)?
            .into_iter()
            .partition(|room| room.encrypted);
        let readable: HashMap<RoomId, String> = readable
            .into_iter()
            .map(|room| (room.id, room.name))
            .collect();
        let mut rooms: Vec<RoomId> = readable.keys().copied().collect();
        if let Some(id) = &request.room {
            let id: RoomId = id.parse().map_err(|_| {
                Error::invalid("invalid_query", format!("room={id} is not a room id"))
            })?;
            match self.chat.room_for(id, user) {
                Ok(info) if info.room.encrypted => {
                    return Err(Error::invalid(
                        "encrypted_room",
                        "messages of end-to-end encrypted rooms are not searchable on the server",
                    ))
                }
                Ok(_) if readable.contains_key(&id) => rooms = vec![id],
                Ok(_) => return Err(Error::NotFound("room")),
                Err(err) => return Err(err),
            }
        }
        if let Some(name) = &parsed.room_name {
            let named = searcher::rooms_named(&readable, name);
            let wanted = name.to_lowercase();
            let encrypted_named = encrypted
                .iter()
                .any(|room| room.name.to_lowercase() == wanted);
            if named.is_empty() && encrypted_named {
                return Err(Error::invalid(
                    "encrypted_room",
                    format!("in:{name}: messages of end-to-end encrypted rooms are not searchable on the server"),
                ));
            }
            if named.is_empty() {
                return Err(Error::invalid(
                    "invalid_query",
                    format!("in:{name}: none of the rooms you can read is named {name:?}"),
                ));
            }
            rooms.retain(|id| named.contains(id));
        }
        Ok(rooms)
    }

    fn results(&self, user: &User, found: Found) -> Result<SearchResults> {
        let mut rooms: HashMap<RoomId, RoomInfo> = HashMap::new();
        let mut hits = Vec::with_capacity(found.hits.len());
        for hit in found.hits {
            let id = hit.message.room;
            let room = match rooms.get(&id) {
                Some(room) => room.clone(),
                None => match self.chat.room_for(id, user) {
                    Ok(info) => {
                        rooms.insert(id, info.clone());
                        info
                    }
                    // Gone or no longer readable since the search began.
                    Err(Error::NotFound(_)) => continue,
                    Err(err) => return Err(err),
                },
            };
            hits.push(SearchHit {
                message: hit.message,
                room,
                snippet: hit.snippet,
            });
        }
        Ok(SearchResults {
            hits,
            next_cursor: found.next_cursor.map(Cursor::encode),
            truncated: found.truncated,
        })
    }
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
