//! Backups taken while chat goes on: consistent under live appends, failed by a deletion.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tempfile::TempDir;

use super::{add_room, backup, message, open, room_id, save, HOUR, NOW};
use crate::ids::RoomId;
use crate::store::{BackupError, BackupOptions};

#[test]
fn a_room_deleted_during_the_backup_fails_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    for n in 1..=2 {
        add_room(&store, room_id(n), &format!("r{n}"), NOW + HOUR, NOW);
        for seq in 1..=3 {
            store
                .insert_message(room_id(n), seq, &message("a", seq, None))
                .unwrap();
        }
    }
    // The first progress report comes after the marks are taken, before any room is written.
    let deleter = store.clone();
    let mut deleted = false;
    let result = store.write_backup(Vec::new(), BackupOptions::default(), &mut |_| {
        if !deleted {
            deleted = deleter.delete_room(room_id(2)).unwrap();
        }
    });
    assert!(deleted);
    match result {
        Err(BackupError::RoomChanged { room }) => assert_eq!(room, room_id(2).to_string()),
        other => panic!("expected RoomChanged, got {other:?}"),
    }
}

#[test]
fn a_backup_under_live_appends_holds_a_gap_free_prefix_of_every_room() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    let rooms: Vec<RoomId> = (1..=4).map(room_id).collect();
    for (n, &id) in rooms.iter().enumerate() {
        add_room(&store, id, &format!("busy-{n}"), NOW + HOUR, NOW);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop, rooms) = (store.clone(), stop.clone(), rooms.clone());
        std::thread::spawn(move || {
            let mut seq = 0;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                for &room in &rooms {
                    let nonce = format!("{room}-{seq}");
                    store
                        .insert_message(room, seq, &message("w", seq, Some(&nonce)))
                        .unwrap();
                }
            }
            seq
        })
    };
    while store.last_seq(rooms[3]).unwrap() < 200 {
        std::thread::yield_now();
    }
    let mut backups = Vec::new();
    for _ in 0..3 {
        backups.push(backup(&store, false));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();

    for (n, (bytes, stats)) in backups.into_iter().enumerate() {
        let target = open(&dir, &format!("target-{n}"));
        target
            .restore_backup(&save(&dir, &format!("live-{n}"), &bytes), &mut |_| {})
            .unwrap();
        let mut total = 0;
        for &room in &rooms {
            let last = target.last_seq(room).unwrap();
            assert!((200..=written).contains(&last));
            for seq in 1..=last {
                let stored = target.message(room, seq).unwrap();
                assert_eq!(
                    stored,
                    Some(message("w", seq, Some(&format!("{room}-{seq}"))))
                );
                let nonce = format!("{room}-{seq}");
                assert_eq!(target.nonce_seq(room, "w", &nonce).unwrap(), Some(seq));
            }
            total += last;
        }
        assert_eq!(stats.messages, total);
        assert_eq!(target.message_count().unwrap() as u64, total);
    }
}
