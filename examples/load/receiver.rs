//! The receiving side of the fan-out mesh (`mesh.rs`): every connection's read loop checks the
//! per-(room, sender) sequence numbers for loss, duplicates and reordering, that server ids only
//! increase within each room, and records delivery latency from each message's scheduled send
//! time, split into phases by that send time. A connection joined to several rooms
//! (`--rooms-per-user`) keeps that state per room, keyed by the room in the message's body, so
//! the checks stay per (room, receiver) whatever the connection model.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{Frame, Ws};
use crate::report::Sharded;

/// Events every receiver counts into. Only `delivered` moves per message; the rest are rare.
#[derive(Default)]
pub struct Counters {
    /// Message frames with a valid header, duplicates included.
    delivered: AtomicU64,
    duplicates: AtomicU64,
    out_of_order: AtomicU64,
    /// Messages whose server id did not increase (the room's order broke).
    id_regressions: AtomicU64,
    errors: AtomicU64,
    closed: AtomicU64,
    malformed: AtomicU64,
    /// Every other frame (presence, `added`, `room_updated`, ...): what a step's deliveries
    /// compete with, and what `--settle` waits to go quiet.
    other: AtomicU64,
}

/// A snapshot of `Counters`; steps report the difference of two.
#[derive(Clone, Copy, Default)]
pub struct Counts {
    pub delivered: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub id_regressions: u64,
    pub errors: u64,
    pub closed: u64,
    pub malformed: u64,
    pub other: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Counts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            delivered: get(&self.delivered),
            duplicates: get(&self.duplicates),
            out_of_order: get(&self.out_of_order),
            id_regressions: get(&self.id_regressions),
            errors: get(&self.errors),
            closed: get(&self.closed),
            malformed: get(&self.malformed),
            other: get(&self.other),
        }
    }
}

impl Counts {
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            delivered: self.delivered - earlier.delivered,
            duplicates: self.duplicates - earlier.duplicates,
            out_of_order: self.out_of_order - earlier.out_of_order,
            id_regressions: self.id_regressions - earlier.id_regressions,
            errors: self.errors - earlier.errors,
            closed: self.closed - earlier.closed,
            malformed: self.malformed - earlier.malformed,
            other: self.other - earlier.other,
        }
    }

    /// Distinct messages received (the first copy of each).
    pub fn unique(self) -> u64 {
        self.delivered - self.duplicates
    }
}

/// Delivery latency split into phases by each message's scheduled send time: phase k holds the
/// messages scheduled at or after boundary k-1 and before boundary k. A boundary is marked when
/// its event starts, and a message is scheduled before it arrives, so whichever side of a mark a
/// message's arrival falls, it lands in the phase its send time belongs to.
pub struct Phases {
    origin: Instant,
    bounds: Vec<AtomicU64>,
    latency: Vec<Sharded>,
}

impl Phases {
    pub fn new(origin: Instant, phases: usize) -> Self {
        let phases = phases.max(1);
        Self {
            origin,
            bounds: (1..phases).map(|_| AtomicU64::new(u64::MAX)).collect(),
            latency: (0..phases).map(|_| Sharded::new(64)).collect(),
        }
    }

    /// Messages scheduled from now on belong to phase `phase` (1, 2, ...), until the next mark.
    pub fn mark(&self, phase: usize) {
        let micros = self.origin.elapsed().as_micros() as u64;
        self.bounds[phase - 1].store(micros, Ordering::Relaxed);
    }

    fn record(&self, shard: usize, scheduled_micros: u64, latency: Duration) {
        let phase = self
            .bounds
            .iter()
            .take_while(|b| scheduled_micros >= b.load(Ordering::Relaxed))
            .count();
        self.latency[phase].record(shard, latency);
    }

    pub fn reset(&self) {
        for bound in &self.bounds {
            bound.store(u64::MAX, Ordering::Relaxed);
        }
        for phase in &self.latency {
            phase.reset();
        }
    }

    /// Each phase's latencies so far.
    pub fn merged(&self) -> Vec<Histogram<u64>> {
        self.latency.iter().map(Sharded::merged).collect()
    }
}

/// One connection's read half and what it checks against.
pub struct Receiver {
    /// The rooms (mesh indices) the connection joined.
    pub rooms: Vec<usize>,
    /// Senders in the room (sequence numbers are per sender).
    pub senders: usize,
    /// Which histogram shard this receiver records into.
    pub shard: usize,
    /// The instant the bodies' scheduled send times count from.
    pub origin: Instant,
    pub counters: Arc<Counters>,
    pub phases: Arc<Phases>,
    pub acks: Arc<Sharded>,
    /// Whether message ids must increase (not for the bare reference, which assigns none).
    pub check_ids: bool,
}

impl Receiver {
    /// Reads until `stop` or the connection closes, counting into the shared counters.
    pub async fn run(
        self,
        mut stream: futures_util::stream::SplitStream<Ws>,
        stop: CancellationToken,
    ) {
        let count = |counter: &AtomicU64| {
            counter.fetch_add(1, Ordering::Relaxed);
        };
        let c = &self.counters;
        let mut joined: Vec<RoomState> = self
            .rooms
            .iter()
            .map(|&room| RoomState::new(room, self.senders))
            .collect();
        loop {
            let frame = tokio::select! {
                () = stop.cancelled() => break,
                frame = stream.next() => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    count(&c.closed);
                    break;
                }
                Some(Ok(_)) => continue,
            };
            let now = Instant::now();
            let Ok(frame) = Frame::parse(text.as_str()) else {
                count(&c.malformed);
                continue;
            };
            match frame.kind {
                "message" => {}
                "error" => {
                    count(&c.errors);
                    continue;
                }
                _ => {
                    count(&c.other);
                    continue;
                }
            }
            let Some(message) = frame.message else {
                count(&c.malformed);
                continue;
            };
            let Some((room, sender, seq, micros)) = parse_header(&message.body) else {
                count(&c.malformed);
                continue;
            };
            // A linear search: one room by default, a few with `--rooms-per-user`.
            let Some(state) = joined.iter_mut().find(|s| s.room == room) else {
                count(&c.malformed);
                continue;
            };
            if sender >= self.senders {
                count(&c.malformed);
                continue;
            }
            if !self.check_ids {
            } else if message.id <= state.last_id.as_str() {
                count(&c.id_regressions);
            } else {
                state.last_id.clear();
                state.last_id.push_str(message.id);
            }
            let latency =
                now.saturating_duration_since(self.origin + Duration::from_micros(micros));
            self.phases.record(self.shard, micros, latency);
            if frame.nonce.is_some() {
                self.acks.record(self.shard, latency);
            }
            count(&c.delivered);
            let prev = state.last[sender];
            if seq == prev + 1 {
                state.last[sender] = seq;
            } else if seq > prev + 1 {
                state.missing[sender].extend(prev + 1..seq);
                state.last[sender] = seq;
            } else if state.missing[sender].remove(&seq) {
                count(&c.out_of_order);
            } else {
                count(&c.duplicates);
            }
        }
    }
}

/// What one connection has seen of one room: per sender the highest sequence and the gaps
/// below it, and the room's last server id (ids are global, so only their order within one
/// room is promised).
struct RoomState {
    room: usize,
    last: Vec<u64>,
    missing: Vec<HashSet<u64>>,
    last_id: String,
}

impl RoomState {
    fn new(room: usize, senders: usize) -> Self {
        Self {
            room,
            last: vec![0; senders],
            missing: vec![HashSet::new(); senders],
            last_id: String::new(),
        }
    }
}

/// "room sender seq micros ..." -> the four numbers.
fn parse_header(body: &str) -> Option<(usize, usize, u64, u64)> {
    let mut parts = body.split(' ');
    let room = parts.next()?.parse().ok()?;
    let sender = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let micros = parts.next()?.parse().ok()?;
    Some((room, sender, seq, micros))
}
