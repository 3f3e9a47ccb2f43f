//! `conns`: C authenticated WebSocket connections, each joined to a room, held idle. Reports the
//! server's RSS growth per connection and the time to connect and join them all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Api};
use crate::report::{round1, Report};
use crate::server::{self, Target};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Rooms the connections are spread over (connection i joins room i % rooms).
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Registered users; connection i is user (i / rooms) % users, so each room sees many users.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Loopback source addresses to spread connections over (0: one per 20,000 connections).
    #[arg(long, default_value_t = 0)]
    pub sources: usize,
    /// Seconds to hold the connections idle after the "after" reading, then read RSS again.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    server::check_open_files(args.count as u64)?;
    let api = Api::new(&target.base);
    let users = api.register_users(args.users.max(1)).await?;
    let rooms = Arc::new(api.create_rooms(&users[0], args.rooms.max(1)).await?);
    eprintln!(
        "conns: {} users, {} rooms created",
        users.len(),
        rooms.len()
    );
    // Load every room once (the first join reads it from disk) so that the baseline includes it.
    for room in rooms.iter() {
        let mut ws = client::connect(target.addr, &users[0].token, None).await?;
        client::join(&mut ws, room).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = target.rss();
    eprintln!(
        "conns: baseline RSS {:?} bytes; connecting {}",
        rss_before, args.count
    );

    let sources = if args.sources == 0 {
        args.count.div_ceil(20_000)
    } else {
        args.sources
    };
    let stop = CancellationToken::new();
    let frames = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut opening = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let room = rooms[i % rooms.len()].clone();
        let token = users[(i / rooms.len()) % users.len()].token.clone();
        let (gate, addr) = (gate.clone(), target.addr);
        let (stop, frames, closed) = (stop.clone(), frames.clone(), closed.clone());
        opening.push(tokio::spawn(async move {
            let permit = gate.acquire().await;
            let mut ws = client::connect(addr, &token, client::source_for(i, sources)).await?;
            client::join(&mut ws, &room).await?;
            drop(permit);
            // Hold the connection: read (presence frames, pings) until told to stop.
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        frame = ws.next() => match frame {
                            Some(Ok(Message::Text(_))) => { frames.fetch_add(1, Ordering::Relaxed); }
                            Some(Ok(_)) => {}
                            _ => { closed.fetch_add(1, Ordering::Relaxed); break; }
                        }
                    }
                }
            });
            anyhow::Ok(())
        }));
    }
    let mut failed = 0u64;
    let mut first_error = None;
    for task in opening {
        if let Err(err) = task.await.context("connection task")? {
            failed += 1;
            first_error.get_or_insert(format!("{err:#}"));
        }
    }
    let connect_time = started.elapsed();
    eprintln!(
        "conns: connected in {:.2} s ({failed} failed)",
        connect_time.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = target.rss();
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let rss_held = target.rss();
    let still_open = args.count as u64 - failed - closed.load(Ordering::Relaxed);

    let mut report = Report::new(
        "conns",
        format!(
            "conns: {} idle connections over {} rooms, {} users",
            args.count, args.rooms, args.users
        ),
    );
    report.both("connections", "count", args.count as u64);
    report.both("failed to connect/join", "failed", failed);
    if let Some(err) = first_error {
        report.row("first failure", err);
    }
    report.both("still open at the end", "open", still_open);
    report.both(
        "connect + join all (s)",
        "connect_s",
        (connect_time.as_secs_f64() * 100.0).round() / 100.0,
    );
    report.both(
        "connects/s",
        "connects_per_sec",
        round1(args.count as f64 / connect_time.as_secs_f64()),
    );
    report.both(
        "frames received while held (presence)",
        "frames",
        frames.load(Ordering::Relaxed),
    );
    if let (Some(before), Some(after), Some(held)) = (rss_before, rss_after, rss_held) {
        let mib = |b: u64| round1(b as f64 / 1048576.0);
        let per = |b: u64| round1(b.saturating_sub(before) as f64 / args.count as f64 / 1024.0);
        report.both("server RSS before (MiB)", "rss_before_mib", mib(before));
        report.both(
            "server RSS after connect (MiB)",
            "rss_after_mib",
            mib(after),
        );
        report.both(
            &format!("server RSS after {} s idle (MiB)", args.hold),
            "rss_held_mib",
            mib(held),
        );
        report.both(
            "RSS growth per connection (KiB)",
            "kib_per_conn",
            per(after),
        );
        report.both("... after idling (KiB)", "kib_per_conn_held", per(held));
    }
    stop.cancel();
    Ok(report)
}
