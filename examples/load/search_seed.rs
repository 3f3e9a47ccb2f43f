//! The `search` scenario's seeding: chat messages (`search_text.rs`) sent over WebSocket with
//! acknowledgements, as fast as the server takes them or at a target rate, while the lag gauge
//! and probe messages measure how far the search index trails the chat (`search_watch.rs`).
//!
//! Each seeding connection is joined to its own share of the rooms, so it receives only its
//! own messages' acknowledgements, not the others' traffic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Api, Frame, User, Ws};
use crate::history::XorShift;
use crate::report::{self, histogram};
use crate::search_text::{Reservoir, Vocabulary};
use crate::search_watch::{sample_lag, Prober, Probes};
use crate::server::{self, Target};

/// A seeding connection with sends in flight and nothing back for this long has failed.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SeedPlan {
    pub messages: u64,
    pub connections: usize,
    /// Unacknowledged sends per connection.
    pub window: usize,
    /// Aggregate messages per second; None: as fast as acknowledgements come back.
    pub rate: Option<f64>,
    pub probe_every: Duration,
    /// How long the final probe may take to be found after the seeding.
    pub drain_timeout: Duration,
    /// Seeded messages each connection keeps (a uniform sample) for the searchers' queries.
    pub keep: usize,
}

/// What the seeding did and what the watchers saw meanwhile.
pub struct Seeded {
    pub acked: u64,
    /// Sends answered with an error frame instead of an acknowledgement.
    pub refused: u64,
    pub first_refusal: Option<String>,
    /// From the first send to the last acknowledgement.
    pub elapsed: Duration,
    /// Send to durable acknowledgement.
    pub ack_latency: Histogram<u64>,
    pub samples: Vec<Vec<u32>>,
    /// `confab_search_lag_seconds` every 100 ms while seeding.
    pub lag: Vec<f64>,
    /// Samples the scrape did not answer or lacked the gauge.
    pub lag_missing: u64,
    pub probes: Probes,
    pub cpu: Cpu,
}

/// The server's and this tool's CPU time from the first send to the last acknowledgement.
pub struct Cpu {
    pub server: Option<Duration>,
    pub client: Option<Duration>,
    pub over: Duration,
}

/// Seeds `plan.messages` messages over `rooms`, one connection per seeding user in turn.
pub async fn seed(
    target: &Target,
    rooms: &[String],
    seeders: &[User],
    prober: &User,
    vocabulary: Arc<Vocabulary>,
    plan: &SeedPlan,
) -> anyhow::Result<Seeded> {
    anyhow::ensure!(
        !rooms.is_empty() && !seeders.is_empty(),
        "need rooms and users"
    );
    let connections = plan.connections.clamp(1, rooms.len());
    let mut sockets = Vec::with_capacity(connections);
    for c in 0..connections {
        let user = &seeders[c % seeders.len()];
        let mut ws = client::connect(target.addr, &user.token, None).await?;
        let mine: Vec<String> = rooms.iter().skip(c).step_by(connections).cloned().collect();
        for room in &mine {
            client::join(&mut ws, room).await?;
        }
        sockets.push((ws, mine));
    }
    let mut probe_ws = client::connect(target.addr, &prober.token, None).await?;
    client::join(&mut probe_ws, &rooms[0]).await?;

    let progress = Arc::new(AtomicU64::new(0));
    let reporter = report::spawn_fill_progress("search", progress.clone(), plan.messages);
    let start = Instant::now() + Duration::from_millis(100);
    let period = plan
        .rate
        .filter(|rate| *rate > 0.0)
        .map(|rate| Duration::from_secs_f64(connections as f64 / rate));
    let base = plan.messages / connections as u64;
    let extra = plan.messages % connections as u64;
    let mut tasks = Vec::with_capacity(connections);
    for (index, (ws, rooms)) in sockets.into_iter().enumerate() {
        let seeder = Seeder {
            ws,
            index,
            rooms,
            share: base + u64::from((index as u64) < extra),
            window: plan.window.max(1),
            period,
            start,
            vocabulary: vocabulary.clone(),
            keep: plan.keep,
            progress: progress.clone(),
        };
        tasks.push(tokio::spawn(seeder.run()));
    }
    let stop = CancellationToken::new();
    let (server_cpu0, client_cpu0) = (target.cpu(), server::own_cpu());
    let seeding = async {
        // Stops the watchers however the seeding ends.
        let _stop = stop.clone().drop_guard();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(task.await??);
        }
        let used = |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| b - a);
        let cpu = Cpu {
            server: used(server_cpu0, target.cpu()),
            client: used(client_cpu0, server::own_cpu()),
            over: start.elapsed(),
        };
        anyhow::Ok((outcomes, cpu))
    };
    let api = Api::new(&target.base);
    let prober = Prober::new(probe_ws, rooms[0].clone(), api, prober.clone());
    let (outcomes, (lag, lag_missing), probes) = tokio::join!(
        seeding,
        sample_lag(target, &stop),
        prober.run(plan.probe_every, plan.drain_timeout, &stop)
    );
    reporter.abort();
    let (outcomes, cpu) = outcomes?;
    let probes = probes?;

    let mut seeded = Seeded {
        acked: 0,
        refused: 0,
        first_refusal: None,
        elapsed: Duration::ZERO,
        ack_latency: histogram(),
        samples: Vec::new(),
        lag,
        lag_missing,
        probes,
        cpu,
    };
    let mut last_ack = start;
    for outcome in outcomes {
        seeded.acked += outcome.acked;
        seeded.refused += outcome.refused;
        seeded.first_refusal = seeded.first_refusal.or(outcome.first_refusal);
        seeded
            .ack_latency
            .add(&outcome.latency)
            .expect("same bounds");
        seeded.samples.extend(outcome.samples);
        last_ack = last_ack.max(outcome.last_ack.unwrap_or(start));
    }
    seeded.elapsed = last_ack - start;
    Ok(seeded)
}

/// One seeding connection: keeps up to `window` sends in flight, each sent when due (at
/// `period` after the previous one, or at once without a rate), until `share` are answered.
/// A connection that falls behind its schedule sends the late messages as soon as the window
/// allows, so the rate is met whenever the server can take it.
struct Seeder {
    ws: Ws,
    index: usize,
    rooms: Vec<String>,
    share: u64,
    window: usize,
    period: Option<Duration>,
    start: Instant,
    vocabulary: Arc<Vocabulary>,
    keep: usize,
    progress: Arc<AtomicU64>,
}

struct SeederOutcome {
    acked: u64,
    refused: u64,
    first_refusal: Option<String>,
    latency: Histogram<u64>,
    samples: Vec<Vec<u32>>,
    last_ack: Option<Instant>,
}

impl Seeder {
    async fn run(mut self) -> anyhow::Result<SeederOutcome> {
        let seed = 0x9e37_79b9_7f4a_7c15 ^ (self.index as u64 + 1).wrapping_mul(0x2545_f491);
        let mut rng = XorShift(seed);
        let mut reservoir = Reservoir::new(self.keep);
        let mut outcome = SeederOutcome {
            acked: 0,
            refused: 0,
            first_refusal: None,
            latency: histogram(),
            samples: Vec::new(),
            last_ack: None,
        };
        let mut in_flight: HashMap<String, (Instant, Vec<u32>)> = HashMap::new();
        let mut sent = 0u64;
        let mut due = self.start;
        tokio::time::sleep_until(self.start).await;
        loop {
            let mut fed = false;
            while sent < self.share && in_flight.len() < self.window && Instant::now() >= due {
                let words = self.vocabulary.message(&mut rng);
                let body = self.vocabulary.text(&words, &mut rng);
                let room = &self.rooms[(sent % self.rooms.len() as u64) as usize];
                let nonce = format!("s{}-{sent}", self.index);
                self.ws
                    .feed(client::send_frame(room, &body, &nonce))
                    .await?;
                in_flight.insert(nonce, (Instant::now(), words));
                sent += 1;
                fed = true;
                if let Some(period) = self.period {
                    due += period;
                }
            }
            if fed {
                self.ws.flush().await?;
            }
            if sent >= self.share && in_flight.is_empty() {
                break;
            }
            // Only with a rate: the window has room, the next send is not due yet.
            let waiting_for_schedule = sent < self.share && in_flight.len() < self.window;
            let next = if waiting_for_schedule {
                tokio::select! {
                    next = self.ws.next() => Some(next),
                    () = tokio::time::sleep_until(due) => None,
                }
            } else {
                let next = tokio::time::timeout(ACK_TIMEOUT, self.ws.next()).await;
                Some(next.with_context(|| {
                    format!(
                        "seeding connection {}: no acknowledgement within {} s",
                        self.index,
                        ACK_TIMEOUT.as_secs()
                    )
                })?)
            };
            let Some(next) = next else { continue };
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                _ => bail!("seeding connection {} closed", self.index),
            };
            let frame = Frame::parse(text.as_str())?;
            let Some(nonce) = frame.nonce else { continue };
            let Some((sent_at, words)) = in_flight.remove(nonce.as_ref()) else {
                continue;
            };
            let now = Instant::now();
            if frame.kind == "message" {
                outcome.acked += 1;
                outcome.last_ack = Some(now);
                outcome
                    .latency
                    .saturating_record((now - sent_at).as_micros().max(1) as u64);
                reservoir.offer(words, &mut rng);
                self.progress.fetch_add(1, Ordering::Relaxed);
            } else {
                outcome.refused += 1;
                if outcome.first_refusal.is_none() {
                    outcome.first_refusal = Some(frame.code.unwrap_or(frame.kind).to_string());
                }
            }
        }
        outcome.samples = reservoir.kept;
        Ok(outcome)
    }
}
