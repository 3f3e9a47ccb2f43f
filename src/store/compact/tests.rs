//! Compaction keeps every record, drops the bytes of overwritten ones, and a crash at any step of
//! its swap leaves one whole database after the next open.

use std::collections::BTreeMap;
use std::path::Path;

use super::swap::{self, Steps, BUILDING, MARKER, RETIRED};
use super::CompactError;
use crate::store::{OpenError, Store};

const MARKER_BYTES: &[u8] = b"erased-8f3a1c5d9b7e";

type Dump = BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>;

/// Every tree of the store, every key and value.
fn dump(store: &Store) -> Dump {
    store
        .db
        .tree_names()
        .into_iter()
        .map(|name| {
            let tree = store.db.open_tree(&name).expect("tree");
            let entries = tree
                .iter()
                .map(|entry| {
                    let (key, value) = entry.expect("entry");
                    (key.to_vec(), value.to_vec())
                })
                .collect();
            (name.to_vec(), entries)
        })
        .collect()
}

/// A database with records in several trees (one the store does not know of), one value that
/// held `MARKER_BYTES` before it was overwritten, flushed in between like a deletion, and 100
/// values rewritten `rewrites` times.
fn seed(dir: &Path, rewrites: u32) -> Dump {
    let store = Store::open(dir, 8).expect("open");
    for n in 0..200u32 {
        let value = format!(
            "{{\"username\":\"user{n}\",\"filler\":\"{}\"}}",
            "x".repeat(200)
        );
        store
            .users
            .insert(format!("user{n}"), value.as_bytes())
            .expect("insert");
    }
    let mut secret = b"{\"body\":\"".to_vec();
    secret.extend_from_slice(MARKER_BYTES);
    secret.extend_from_slice(b"\"}");
    store.messages.insert(b"room-1", secret).expect("insert");
    store.db.flush().expect("flush");
    store
        .messages
        .insert(b"room-1", &b"{\"body\":\"\",\"deleted\":true}"[..])
        .expect("overwrite");
    store
        .db
        .open_tree("from_a_newer_confab")
        .expect("tree")
        .insert(b"k", &b"v"[..])
        .expect("insert");
    store.db.flush().expect("flush");
    // Rewrites, as edits and reactions do: the log grows, the live data does not.
    for round in 0..rewrites {
        for n in 0..100u32 {
            let value = format!("{{\"round\":{round},\"text\":\"{}\"}}", "y".repeat(1000));
            store
                .nonces
                .insert(format!("rewritten{n}"), value.as_bytes())
                .expect("insert");
        }
        store.db.flush().expect("flush");
    }
    dump(&store)
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).expect("read_dir").any(|entry| {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            any_file_holds(&path, needle)
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

fn leftovers(dir: &Path) -> Vec<&'static str> {
    [BUILDING, RETIRED, MARKER, "compact.swap.tmp"]
        .into_iter()
        .filter(|name| dir.join(name).exists())
        .collect()
}

#[test]
fn compaction_keeps_every_record_and_drops_overwritten_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = seed(dir.path(), 10);
    // sled keeps the old version in its log (observed; not asserted, it is sled's business).
    eprintln!(
        "before compaction, the overwritten value is still in the files: {}",
        any_file_holds(dir.path(), MARKER_BYTES)
    );
    let stats = Store::compact(dir.path(), 8).expect("compact");
    assert!(
        !any_file_holds(dir.path(), MARKER_BYTES),
        "no file holds the overwritten bytes"
    );
    assert_eq!(
        stats.records,
        200 + 1 + 100 + 1 + 1,
        "users, a message, rewritten values, the newer tree, the schema"
    );
    assert_eq!(stats.trees as usize, before.len());
    eprintln!(
        "engine files: {} bytes before compaction, {} after",
        stats.bytes_before, stats.bytes_after
    );
    assert!(stats.bytes_after > 0 && stats.bytes_after < stats.bytes_before);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    let store = Store::open(dir.path(), 8).expect("reopen");
    assert_eq!(dump(&store), before);
}

#[test]
fn a_crash_at_any_step_of_the_swap_leaves_one_whole_database() {
    let mut completed = false;
    for crash_after in 0..100 {
        // Recovery itself may be cut short too, and is then run again by the next open.
        for recovery_crash in [Some(1), None] {
            let dir = tempfile::tempdir().expect("tempdir");
            let before = seed(dir.path(), 1);
            let result = Store::compact_with(dir.path(), 8, &mut Steps::stop_after(crash_after));
            match result {
                Ok(_) => completed = true,
                Err(CompactError::Swap { .. }) => {}
                Err(other) => panic!("step {crash_after}: {other}"),
            }
            if let Some(steps) = recovery_crash {
                let _ = swap::recover(dir.path(), &mut Steps::stop_after(steps));
            }
            let store = Store::open(dir.path(), 8)
                .unwrap_or_else(|err| panic!("crash after step {crash_after}: {err}"));
            assert_eq!(
                dump(&store),
                before,
                "crash after step {crash_after}, recovery cut after {recovery_crash:?}"
            );
            drop(store);
            assert!(
                leftovers(dir.path()).is_empty(),
                "{:?}",
                leftovers(dir.path())
            );
        }
        if completed {
            assert!(
                crash_after > 10,
                "the swap has more steps than {crash_after}"
            );
            eprintln!("the swap takes {crash_after} steps; a crash after each one was recovered");
            return;
        }
    }
    panic!("the compaction never completed");
}

#[test]
fn an_unfinished_copy_is_removed_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = seed(dir.path(), 1);
    let building = dir.path().join(BUILDING);
    std::fs::create_dir(&building).expect("mkdir");
    std::fs::write(building.join("db"), b"half a database").expect("write");
    let store = Store::open(dir.path(), 8).expect("open");
    assert_eq!(dump(&store), before);
    assert!(!building.exists());
}

#[test]
fn compaction_refuses_an_open_store_a_missing_directory_and_an_empty_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 8).expect("open");
    assert!(matches!(
        Store::compact(dir.path(), 8),
        Err(CompactError::Open(OpenError::Locked(_)))
    ));
    assert!(matches!(
        Store::open(dir.path(), 8),
        Err(OpenError::Locked(_))
    ));
    drop(store);

    let missing = dir.path().join("missing");
    assert!(matches!(
        Store::compact(&missing, 8),
        Err(CompactError::Missing(_))
    ));
    assert!(!missing.exists(), "compaction creates nothing");
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(!Store::database_in(empty.path()));
    assert!(matches!(
        Store::compact(empty.path(), 8),
        Err(CompactError::NoDatabase(_))
    ));
    assert_eq!(std::fs::read_dir(empty.path()).expect("read").count(), 0);
}
