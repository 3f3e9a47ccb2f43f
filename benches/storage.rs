//! Micro-benchmarks of the storage hot paths, through `confab::store::Store`'s public API on a
//! real sled database in a temporary directory (the system temp dir, so flushes hit the disk):
//!
//! - `append`: storing one message alone (`insert_message`: a transaction over the messages and
//!   nonce trees), N such inserts then one `flush` (`insert_then_flush`, how the server stored
//!   messages before the group commit wrote whole batches), and what the group committer does
//!   now (`append_then_flush`: N messages in one transaction, then one flush);
//! - `read`: history pages of a 100,000-message room: the newest 50, 50 after and 50 before a
//!   random id;
//! - `sweep`: deleting 10,000 expired rooms of one message each the way the sweeper walks them
//!   (`expired_rooms` in batches of 256, `delete_room` each), with one flush at the end, as the
//!   sweeper flushes once per batch. Real rooms hold more messages; the `sweep` scenario of the
//!   load tool measures that end to end (1,000 rooms x 1,000 messages).
//!
//! `cargo bench --bench storage` (a few seconds per benchmark; `-- read` runs one group).

use std::time::{Duration, Instant};

use confab::ids::RoomId;
use confab::store::{EncodedMessage, MessageRecord, Page, RoomKind, RoomRecord, Store};
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};

/// The page cache the server uses by default (`storage.cache_mb`).
const CACHE_MB: u64 = 128;
const NOW_MS: u64 = 1_800_000_000_000;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), CACHE_MB).expect("open store");
    (dir, store)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A chat message of ~100 bytes, like the load tool's.
fn message(seq: u64, nonce: bool) -> MessageRecord {
    MessageRecord::new(
        "alice".into(),
        format!("{seq:>12} the quick brown fox jumps over the lazy dog, again and again"),
        NOW_MS + seq,
        nonce.then(|| format!("n-{seq}")),
    )
}

fn room(id: RoomId, index: usize, expires_at_ms: u64) -> RoomRecord {
    RoomRecord {
        id: id.to_string(),
        name: format!("room {index}"),
        created_by: "alice".into(),
        created_at_ms: NOW_MS,
        expires_at_ms,
        kind: RoomKind::Public,
        topic: String::new(),
        member_count: 0,
        encrypted: false,
        key_version: 0,
    }
}

/// A small deterministic PRNG for page positions.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn append(c: &mut Criterion) {
    let (_dir, store) = open();
    let rt = runtime();
    let rooms: Vec<RoomId> = (0..100).map(|_| RoomId::generate(NOW_MS)).collect();
    let mut seq = 0u64;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    for (name, nonce) in [("insert_message", true), ("insert_message_no_nonce", false)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    seq += 1;
                    (rooms[seq as usize % rooms.len()], seq, message(seq, nonce))
                },
                |(room, seq, record)| store.insert_message(room, seq, &record).expect("insert"),
                BatchSize::SmallInput,
            );
        });
        rt.block_on(store.flush()).expect("flush");
    }
    // A flush of a large batch takes tens of milliseconds: the same iterations in every sample.
    group.sampling_mode(SamplingMode::Flat);
    for batch in [1u64, 64, 512] {
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(
            BenchmarkId::new("insert_then_flush", batch),
            &batch,
            |b, &batch| {
                b.iter_batched(
                    || {
                        (0..batch)
                            .map(|_| {
                                seq += 1;
                                (rooms[seq as usize % rooms.len()], seq, message(seq, true))
                            })
                            .collect::<Vec<_>>()
                    },
                    |messages| {
                        for (room, seq, record) in &messages {
                            store.insert_message(*room, *seq, record).expect("insert");
                        }
                        rt.block_on(store.flush()).expect("flush");
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    // What the group committer does: a batch of N encoded messages in one transaction, then
    // one flush.
    for batch in [1u64, 64, 512] {
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(
            BenchmarkId::new("append_then_flush", batch),
            &batch,
            |b, &batch| {
                b.iter_batched(
                    || {
                        (0..batch)
                            .map(|_| {
                                seq += 1;
                                let room = rooms[seq as usize % rooms.len()];
                                EncodedMessage::new(room, seq, &message(seq, true))
                            })
                            .collect::<Vec<_>>()
                    },
                    |messages| {
                        let batch: Vec<&EncodedMessage> = messages.iter().collect();
                        store.append_messages(&batch).expect("append");
                        rt.block_on(store.flush()).expect("flush");
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    const MESSAGES: u64 = 100_000;
    let (_dir, store) = open();
    let rt = runtime();
    let big = RoomId::generate(NOW_MS);
    // A few neighbours, so the big room's keys do not end the tree.
    let neighbours: Vec<RoomId> = (0..10).map(|_| RoomId::generate(NOW_MS)).collect();
    for seq in 1..=MESSAGES {
        store
            .insert_message(big, seq, &message(seq, true))
            .expect("insert");
        if seq % 100 == 0 {
            let neighbour = neighbours[(seq / 100) as usize % neighbours.len()];
            store
                .insert_message(neighbour, seq, &message(seq, true))
                .expect("insert");
        }
    }
    rt.block_on(store.flush()).expect("flush");

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(50));
    group.bench_function("newest_50_of_100k", |b| {
        let page = Page {
            after: None,
            before: None,
            limit: 50,
        };
        b.iter(|| {
            let page = store.messages(big, page).expect("read");
            assert_eq!(page.len(), 50);
            page
        });
    });
    group.bench_function("50_after_random_id", |b| {
        b.iter_batched(
            || Page {
                after: Some(1 + rng.next() % (MESSAGES - 50)),
                before: None,
                limit: 50,
            },
            |page| store.messages(big, page).expect("read"),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("50_before_random_id", |b| {
        b.iter_batched(
            || Page {
                after: None,
                before: Some(51 + rng.next() % (MESSAGES - 50)),
                limit: 50,
            },
            |page| store.messages(big, page).expect("read"),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn sweep(c: &mut Criterion) {
    const ROOMS: usize = 10_000;
    const MESSAGES_PER_ROOM: u64 = 1;
    /// As many as the sweeper takes from the expiry index at once.
    const BATCH: usize = 256;
    let (_dir, store) = open();
    let rt = runtime();
    let mut created = 0usize;
    let mut group = c.benchmark_group("sweep");
    // One sweep takes about a second: one per sample, set-up (not timed) in between.
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(ROOMS as u64));
    group.bench_function("delete_10k_expired_rooms", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                // Set-up, not timed: 10,000 rooms, all expired at NOW_MS.
                for _ in 0..ROOMS {
                    created += 1;
                    let id = RoomId::generate(NOW_MS - 1000);
                    store
                        .insert_room(id, &room(id, created, NOW_MS - 1), &[], NOW_MS - 1000)
                        .expect("insert room");
                    for seq in 1..=MESSAGES_PER_ROOM {
                        store
                            .insert_message(id, seq, &message(seq, true))
                            .expect("insert");
                    }
                }
                rt.block_on(store.flush()).expect("flush");

                let started = Instant::now();
                let mut deleted = 0;
                loop {
                    let expired = store.expired_rooms(NOW_MS, BATCH).expect("expired");
                    if expired.is_empty() {
                        break;
                    }
                    for (expires_at, id) in expired {
                        if store.delete_room(id).expect("delete") {
                            deleted += 1;
                        } else {
                            store
                                .remove_expiry_entry(expires_at, id)
                                .expect("remove expiry");
                        }
                    }
                }
                rt.block_on(store.flush()).expect("flush");
                spent += started.elapsed();
                assert_eq!(deleted, ROOMS);
            }
            spent
        });
    });
    group.finish();
}

criterion_group! {
    name = storage;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = append, read, sweep
}
criterion_main!(storage);
