//! Which rooms' stored messages changed (new, edited, deleted) or which rooms were deleted,
//! since a listener last looked: how derived data such as the search index learns what to read
//! again from the store. The committer only marks a room per batch, never waits and never holds
//! message copies here, so a slow listener cannot slow chat or grow memory beyond one entry per
//! room. Nothing is marked until a listener subscribes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::ids::RoomId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomChange {
    /// Messages were added or changed: read the room again from where you were.
    Messages,
    /// The room and its messages are gone.
    Deleted,
}

/// Changes taken in one go, with when the oldest of them was marked.
#[derive(Debug, Default)]
pub struct TakenChanges {
    pub rooms: HashMap<RoomId, RoomChange>,
    pub oldest: Option<Instant>,
}

#[derive(Default)]
pub struct ChangedRooms {
    subscribed: AtomicBool,
    pending: Mutex<TakenChanges>,
    wake: Condvar,
}

impl ChangedRooms {
    /// From now on, changes are kept for `take`.
    pub fn subscribe(&self) {
        self.subscribed.store(true, Ordering::Release);
    }

    pub(super) fn messages_changed(&self, rooms: impl IntoIterator<Item = RoomId>) {
        self.mark(rooms, RoomChange::Messages);
    }

    pub(super) fn room_deleted(&self, room: RoomId) {
        self.mark([room], RoomChange::Deleted);
    }

    fn mark(&self, rooms: impl IntoIterator<Item = RoomId>, change: RoomChange) {
        if !self.subscribed.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        for room in rooms {
            let entry = pending.rooms.entry(room).or_insert(change);
            // A deletion wins over earlier changes; changes after it cannot happen.
            if change == RoomChange::Deleted {
                *entry = change;
            }
        }
        if !pending.rooms.is_empty() && pending.oldest.is_none() {
            pending.oldest = Some(Instant::now());
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// Blocks (a listener's own thread) until something changed or `wait` passed, then takes
    /// everything marked so far.
    pub fn take(&self, wait: Duration) -> TakenChanges {
        let Ok(pending) = self.pending.lock() else {
            return TakenChanges::default();
        };
        let (mut pending, _) = match self
            .wake
            .wait_timeout_while(pending, wait, |p| p.rooms.is_empty())
        {
            Ok(woken) => woken,
            Err(_) => return TakenChanges::default(),
        };
        std::mem::take(&mut *pending)
    }

    /// Wakes a listener blocked in `take` (to stop, or to act on a request).
    pub fn nudge(&self) {
        self.wake.notify_all();
    }

    /// When the oldest change not yet taken was marked.
    pub fn oldest_pending(&self) -> Option<Instant> {
        self.pending.lock().ok().and_then(|p| p.oldest)
    }
}
