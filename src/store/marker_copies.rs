//! An in-memory copy of the read markers asked for, so that the counts of a room listing and
//! of every `room_activity` notice read no marker from sled and decode no JSON.
//!
//! Coherence: a fill reads sled while holding the write lock, and a marker write commits to sled
//! first and then moves the kept copy forward under that lock. Markers only move forward, so
//! keeping the newer of the two is right in whatever order concurrent writers and fills get
//! the lock, and the commit path pays no second read. Bulk rewrites drop the copies.
//!
//! Memory: one entry (the lowercase username and the marker, about 100 bytes) per member of a
//! room asked about, missing markers included; a room's entries go with the room.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use super::records::decode;
use super::{keys, ReadMarkerRecord, Store, StoreResult};
use crate::ids::RoomId;

type RoomMarkers = HashMap<String, Option<ReadMarkerRecord>>;

#[derive(Default)]
pub(super) struct MarkerCopies(RwLock<HashMap<RoomId, RoomMarkers>>);

/// Marker keys are lowercase usernames; most names already are, and need no copy.
fn key_name(username: &str) -> Cow<'_, str> {
    if username.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(username.to_ascii_lowercase())
    } else {
        Cow::Borrowed(username)
    }
}

impl Store {
    /// How far `username` has read `room` (`None`: no marker yet).
    pub fn read_marker(
        &self,
        room: RoomId,
        username: &str,
    ) -> StoreResult<Option<ReadMarkerRecord>> {
        let name = key_name(username);
        {
            let kept = self
                .markers
                .0
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(marker) = kept.get(&room).and_then(|markers| markers.get(&*name)) {
                return Ok(*marker);
            }
        }
        self.fill_read_marker(room, &name)
    }

    /// After `marker` was stored for (`room`, `username`): a kept copy moves forward to it.
    pub(super) fn note_read_marker(&self, room: RoomId, username: &str, marker: ReadMarkerRecord) {
        let mut kept = self
            .markers
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Nothing kept for the room: the first read fills from sled.
        if let Some(markers) = kept.get_mut(&room) {
            let copy = markers.entry(key_name(username).into_owned()).or_default();
            if copy.map_or(true, |copy| copy.message < marker.message) {
                *copy = Some(marker);
            }
        }
    }

    /// Takes the stored marker into the copy, under the write lock.
    fn fill_read_marker(&self, room: RoomId, name: &str) -> StoreResult<Option<ReadMarkerRecord>> {
        let mut kept = self
            .markers
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let marker = self.stored_read_marker(room, name)?;
        kept.entry(room)
            .or_default()
            .insert(name.to_owned(), marker);
        Ok(marker)
    }

    /// After markers of `room` were rewritten or deleted in bulk: they are read again when
    /// next asked.
    pub(super) fn forget_read_markers(&self, room: RoomId) {
        self.markers
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&room);
    }

    /// After bulk writes that bypass the typed writes (restore, clearing, migration).
    pub(super) fn forget_all_read_markers(&self) {
        self.markers
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn stored_read_marker(
        &self,
        room: RoomId,
        username: &str,
    ) -> StoreResult<Option<ReadMarkerRecord>> {
        self.read_markers
            .get(keys::room_member(room, username))?
            .map(|bytes| decode(&bytes, "read marker"))
            .transpose()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::directory::tests::{owner, record};

    fn marker(message: u64) -> ReadMarkerRecord {
        ReadMarkerRecord {
            message,
            ordinal: message,
            mentions: None,
        }
    }

    fn room(store: &Store) -> RoomId {
        let id = RoomId::generate(1);
        store.insert_room(id, &record("a"), &[owner()], 1).unwrap();
        id
    }

    #[test]
    fn kept_markers_follow_every_marker_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let id = room(&store);
        assert_eq!(store.read_marker(id, "ann").unwrap(), None, "none yet");
        store.advance_read_marker(id, "ann", marker(5)).unwrap();
        let kept = store.read_marker(id, "ANN").unwrap().map(|m| m.message);
        assert_eq!(kept, Some(5), "a missing marker kept in memory is replaced");
        store.advance_read_marker(id, "Ann", marker(3)).unwrap();
        assert_eq!(store.read_marker(id, "ann").unwrap().unwrap().message, 5);
        store.advance_read_marker(id, "ann", marker(9)).unwrap();
        assert_eq!(store.read_marker(id, "ann").unwrap().unwrap().message, 9);
        assert_eq!(
            store.read_marker(id, "ann").unwrap(),
            store.stored_read_marker(id, "ann").unwrap(),
            "the copy is the stored marker, mention count included"
        );

        // Rewritten behind the typed writes (as a restore does): read again once told.
        store
            .read_markers
            .insert(
                keys::room_member(id, "ann"),
                super::super::records::encode(&marker(2)),
            )
            .unwrap();
        store.forget_directory();
        assert_eq!(store.read_marker(id, "ann").unwrap().unwrap().message, 2);

        store.delete_room(id).unwrap();
        assert_eq!(
            store.read_marker(id, "ann").unwrap(),
            None,
            "gone with the room"
        );
    }
}
