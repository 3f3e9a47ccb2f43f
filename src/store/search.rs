//! How far the full-text index (src/search) has taken each room: the highest message or change
//! number it has indexed. Written after each index commit, so after a crash the index re-reads
//! only what came later; indexing a message twice replaces it, so a mark that lags is harmless.
//! Derived data: never in backups.

use std::collections::HashMap;

use super::{keys, Store, StoreResult};
use crate::ids::RoomId;

impl Store {
    /// Every room's mark.
    pub fn search_marks(&self) -> StoreResult<HashMap<RoomId, u64>> {
        self.search_marks
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((keys::parse_room_id(&key)?, keys::parse_seq_value(&value)?))
            })
            .collect()
    }

    /// Moves the marks of the rooms just indexed, in one batch.
    pub fn set_search_marks(&self, marks: &[(RoomId, u64)]) -> StoreResult<()> {
        let mut batch = sled::Batch::default();
        for (room, seq) in marks {
            batch.insert(&keys::room(*room), &keys::seq_value(*seq));
        }
        self.search_marks.apply_batch(batch)?;
        Ok(())
    }

    /// Drops the marks of deleted rooms.
    pub fn forget_search_marks(&self, rooms: &[RoomId]) -> StoreResult<()> {
        let mut batch = sled::Batch::default();
        for room in rooms {
            batch.remove(&keys::room(*room));
        }
        self.search_marks.apply_batch(batch)?;
        Ok(())
    }

    /// Forgets every mark, before the index is rebuilt from nothing.
    pub fn clear_search_marks(&self) -> StoreResult<()> {
        self.search_marks.clear()?;
        Ok(())
    }

    /// The ids of every stored room (expired ones included: the sweep removes them).
    pub fn room_ids(&self) -> StoreResult<Vec<RoomId>> {
        self.rooms
            .iter()
            .keys()
            .map(|key| keys::parse_room_id(&key?))
            .collect()
    }
}
