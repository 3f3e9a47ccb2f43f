//! The chat domain: rooms, messages, the hub that fans them out, the group committer that makes
//! them durable, and the sweeper that expires rooms. It knows nothing of HTTP or sled's API.

mod access;
mod activity;
pub mod attachments;
pub mod changed_rooms;
pub mod changes;
mod commit;
pub mod connection;
mod direct;
pub mod encryption;
pub mod events;
pub mod hub;
mod invites;
pub mod markdown;
mod membership;
pub mod mentions;
mod messages;
pub mod model;
mod read_state;
mod rooms;
pub mod sweeper;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use commit::Queued;
pub use connection::Connection;
pub use direct::DIRECT_MAX_PEOPLE;
pub use hub::Hub;
pub use invites::{INVITE_MAX_LIFETIME, INVITE_MAX_USES, INVITE_MIN_LIFETIME};
pub use membership::canonical_username;
pub use messages::{Draft, HistoryPage};
pub use read_state::Notified;
pub use rooms::{NewRoom, RoomChange};

use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::store::Store;

/// The rules the domain enforces, taken from the config.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    pub room_ttl: Duration,
    /// Lifetime of direct rooms (`rooms.direct_ttl`, default `rooms.ttl`).
    pub direct_ttl: Duration,
    pub max_message_chars: usize,
    /// How long after sending a message may be edited (`messages.edit_window`); None: always.
    pub edit_window: Option<Duration>,
    pub attachments: crate::config::AttachmentsConfig,
}

/// The chat service: every operation on rooms and messages goes through it.
pub struct Chat {
    store: Store,
    hub: Arc<Hub>,
    clock: SharedClock,
    settings: ChatSettings,
    commits: mpsc::UnboundedSender<Queued>,
    metrics: Arc<Metrics>,
    /// Room deletions take this for writing, backups for reading: a backup never sees a room
    /// half deleted, and chat traffic is never paused by either.
    deletions: Arc<tokio::sync::RwLock<()>>,
    /// Serializes membership changes (see `membership`): rare, and each is a read-decide-write.
    membership_lock: tokio::sync::Mutex<()>,
    /// Signalled after each batch that made new messages durable (see `committed`).
    committed: Arc<tokio::sync::Notify>,
    /// Every new message once durable, for listeners outside the domain (see `new_messages`).
    published: tokio::sync::broadcast::Sender<Arc<model::Message>>,
    /// Uploads arriving and attachments named by sends on their way to disk (see
    /// `attachments`).
    attachments_in_flight: Arc<attachments::InFlight>,
    /// Rooms whose stored messages changed, for the search index (see `changed_rooms`).
    changed_rooms: Arc<changed_rooms::ChangedRooms>,
}

/// New messages a `new_messages` listener may fall behind by before it loses the oldest.
const PUBLISHED_BACKLOG: usize = 4096;

impl Chat {
    /// Builds the service and starts its group committer, which runs until `shutdown` is
    /// cancelled and then makes every accepted message durable before it returns. Messages,
    /// deliveries, lag and sweeps are counted in `metrics`.
    pub fn start(
        store: Store,
        clock: SharedClock,
        settings: ChatSettings,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let hub = Arc::new(Hub::default());
        let (commits, queue) = mpsc::unbounded_channel();
        let committed = Arc::new(tokio::sync::Notify::new());
        let (activity, activity_queue) = mpsc::unbounded_channel();
        let notices = tokio::spawn(activity::run(store.clone(), hub.clone(), activity_queue));
        let (published, _) = tokio::sync::broadcast::channel(PUBLISHED_BACKLOG);
        let attachments_in_flight = Arc::new(attachments::InFlight::default());
        let changed_rooms = Arc::new(changed_rooms::ChangedRooms::default());
        let committer = tokio::spawn(commit::run(
            store.clone(),
            hub.clone(),
            metrics.clone(),
            commit::Listeners {
                committed: committed.clone(),
                activity,
                notices,
                published: published.clone(),
                attachments_in_flight: attachments_in_flight.clone(),
                changed_rooms: changed_rooms.clone(),
            },
            queue,
            shutdown,
        ));
        let deletions = Arc::new(tokio::sync::RwLock::new(()));
        let chat = Self {
            store,
            hub,
            clock,
            settings,
            commits,
            metrics,
            deletions,
            membership_lock: tokio::sync::Mutex::new(()),
            committed,
            published,
            attachments_in_flight,
            changed_rooms,
        };
        (Arc::new(chat), committer)
    }

    /// Notified (one stored permit, so bursts coalesce) each time new messages have become
    /// durable: the outgoing webhook dispatcher waits on it instead of polling the store.
    pub fn committed(&self) -> Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    /// Each new message once it is durable and delivered, in commit order. A listener that
    /// falls more than a few thousand messages behind is told how many it lost (`Lagged`).
    pub fn new_messages(&self) -> tokio::sync::broadcast::Receiver<Arc<model::Message>> {
        self.published.subscribe()
    }

    /// Rooms whose messages changed or which were deleted, for derived data (the search
    /// index) that reads them again from the store.
    pub fn changed_rooms(&self) -> Arc<changed_rooms::ChangedRooms> {
        self.changed_rooms.clone()
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The server's metrics, for the parts that hold the chat but not the app state (backups).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Holds off room deletions (API, admin, sweeper) while a backup is being taken.
    pub async fn pause_deletions(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.deletions.clone().read_owned().await
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}
