//! `history`: fills one room with K messages (acked WebSocket sends, pipelined, from a few
//! connections), then times history reads over REST one at a time: the newest 50, and pages of
//! 50 before / after random ids. Optionally restarts the server to time a cold start.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::time::Instant;

use crate::client::{self, Api};
use crate::ingest;
use crate::report::{self, histogram, round1, Report};
use crate::server::Target;

#[derive(clap::Args)]
pub struct Args {
    /// Messages in the room.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Connections filling the room (each is joined, so each also receives the others' messages).
    #[arg(long, default_value_t = 2)]
    pub fill_conns: usize,
    /// Unacknowledged sends in flight per filling connection (below `limits.outbound_queue`).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Reads of each kind.
    #[arg(long, default_value_t = 2000)]
    pub reads: usize,
    /// Restart the (started) server on the filled data dir and time the cold start.
    #[arg(long)]
    pub restart: bool,
}

pub async fn run(target: &mut Target, args: &Args) -> anyhow::Result<Report> {
    let api = Api::new(&target.base);
    let users = api.register_users(args.fill_conns.max(1)).await?;
    let room = Arc::new(api.create_rooms(&users[0], 1).await?.remove(0));

    let progress = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let per_conn = args.messages.div_ceil(args.fill_conns.max(1) as u64);
    let mut fillers = Vec::new();
    let mut remaining = args.messages;
    for (index, user) in users.iter().enumerate() {
        let share = per_conn.min(remaining);
        remaining -= share;
        let mut ws = client::connect(target.addr, &user.token, None).await?;
        client::join(&mut ws, &room).await?;
        let (room, progress) = (room.clone(), progress.clone());
        let (window, size) = (args.window, args.size);
        fillers.push(tokio::spawn(ingest::fill(
            ws, room, index, share, window, size, progress,
        )));
    }
    let reporter = report::spawn_fill_progress("history", progress.clone(), args.messages);
    let mut filled = 0;
    for task in fillers {
        filled += task.await??;
    }
    reporter.abort();
    let fill_time = started.elapsed();
    eprintln!(
        "history: {filled} messages in {:.1} s",
        fill_time.as_secs_f64()
    );

    let mut report = Report::new(
        "history",
        format!(
            "history: one room of {filled} messages ({} B bodies), {} reads of each kind",
            args.size, args.reads
        ),
    );
    report.both("messages in the room", "messages", filled);
    report.both("fill time (s)", "fill_s", round1(fill_time.as_secs_f64()));
    report.both(
        "fill rate (acked msg/s)",
        "fill_per_sec",
        round1(filled as f64 / fill_time.as_secs_f64()),
    );
    if let Some(rss) = target.rss() {
        report.both(
            "server RSS after fill (MiB)",
            "server_rss_mib",
            round1(rss as f64 / 1048576.0),
        );
    }

    if args.restart {
        let cold = target.restart().await?;
        let first = Instant::now();
        api.get(&users[0], &format!("/api/rooms/{room}/messages?limit=50"))
            .await?;
        let first_read = first.elapsed();
        report.both(
            "cold start: spawn -> healthy (ms)",
            "cold_start_ms",
            round1(cold.as_secs_f64() * 1000.0),
        );
        report.both(
            "first newest-50 read after start (ms)",
            "first_read_ms",
            round1(first_read.as_secs_f64() * 1000.0),
        );
    }

    let user = &users[0];
    let kinds: [(&str, &str); 3] = [
        ("newest", "newest 50"),
        ("before", "50 before a random id"),
        ("after", "50 after a random id"),
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for (key, label) in kinds {
        // Warm the connection pool (and the first page) before timing.
        api.get(user, &format!("/api/rooms/{room}/messages?limit=50"))
            .await?;
        let mut h = histogram();
        for _ in 0..args.reads {
            let id = 1 + rng.next() % filled.max(1);
            let path = match key {
                "newest" => format!("/api/rooms/{room}/messages?limit=50"),
                "before" => format!("/api/rooms/{room}/messages?limit=50&before={id:016x}"),
                _ => format!("/api/rooms/{room}/messages?limit=50&after={id:016x}"),
            };
            let sent = Instant::now();
            api.get(user, &path).await?;
            h.saturating_record(sent.elapsed().as_micros().max(1) as u64);
        }
        report::latency(&mut report, key, &format!("GET {label}"), &h);
    }
    Ok(report)
}

/// A tiny deterministic PRNG, enough to pick page positions (and shuffle `rooms-list`'s fill).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
