//! `ingest`: closed-loop acknowledged sends. Each sender keeps `window` sends in flight and sends
//! the next one only when an acknowledgement comes back (the nonce-carrying copy over WebSocket,
//! the 201 over REST), which confab gives only once the message is durable (flushed to disk).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Api, Frame, User};
use crate::report::{self, histogram, round1, Report};
use crate::server::{self, Target};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Ws,
    Rest,
}

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent senders (one WebSocket connection or one REST client loop each).
    #[arg(long, default_value_t = 64)]
    pub senders: usize,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    #[arg(long, value_enum, default_value_t = Transport::Ws)]
    pub transport: Transport,
    /// Unacknowledged sends each WebSocket sender keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// Rooms the senders are spread over (0: one room per sender, so nothing fans out).
    #[arg(long, default_value_t = 0)]
    pub rooms: usize,
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    #[arg(long, default_value_t = 16)]
    pub users: usize,
}

/// One sender's results: acknowledgements within the measured window, and refusals.
struct Outcome {
    acked: u64,
    errors: u64,
    latency: hdrhistogram::Histogram<u64>,
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    let api = Api::new(&target.base);
    let users = api
        .register_users(args.users.clamp(1, args.senders.max(1)))
        .await?;
    let room_count = if args.rooms == 0 {
        args.senders
    } else {
        args.rooms
    };
    let rooms = api.create_rooms(&users[0], room_count).await?;
    let mut sockets = Vec::new();
    if args.transport == Transport::Ws {
        for i in 0..args.senders {
            let mut ws = client::connect(target.addr, &users[i % users.len()].token, None).await?;
            client::join(&mut ws, &rooms[i % rooms.len()]).await?;
            sockets.push(ws);
        }
    }
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(args.seconds);
    let (server_cpu0, client_cpu0) = (target.cpu(), server::own_cpu());
    let mut sockets = sockets.into_iter();
    let mut tasks = Vec::new();
    for i in 0..args.senders {
        let room = rooms[i % rooms.len()].clone();
        let user = users[i % users.len()].clone();
        let (size, window) = (args.size, args.window.max(1));
        tasks.push(match args.transport {
            Transport::Ws => {
                let ws = sockets.next().expect("one socket per sender");
                tokio::spawn(ws_sender(ws, i, room, start, end, size, window))
            }
            Transport::Rest => {
                tokio::spawn(rest_sender(api.clone(), user, i, room, start, end, size))
            }
        });
    }
    let mut acked = 0u64;
    let mut errors = 0u64;
    let mut latency = histogram();
    for task in tasks {
        let outcome = task.await??;
        acked += outcome.acked;
        errors += outcome.errors;
        latency.add(&outcome.latency).expect("same bounds");
    }
    let elapsed = end - start;
    let (server_cpu1, client_cpu1) = (target.cpu(), server::own_cpu());
    let transport = match args.transport {
        Transport::Ws => "ws",
        Transport::Rest => "rest",
    };
    let mut report = Report::new(
        "ingest",
        format!(
            "ingest ({transport}): {} senders x window {}, {} rooms, {} s, {} B bodies",
            args.senders, args.window, room_count, args.seconds, args.size
        ),
    );
    report.field("transport", transport.into());
    report.field("senders", args.senders.into());
    report.field("window", args.window.into());
    report.both("acknowledged messages", "acked", acked);
    report.both("refused / failed sends", "errors", errors);
    report.both(
        "durable acknowledged messages/s",
        "acked_per_sec",
        round1(acked as f64 / elapsed.as_secs_f64()),
    );
    report::latency(
        &mut report,
        "ack",
        "ack latency (send -> durable ack)",
        &latency,
    );
    let cpu = |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| b.saturating_sub(a));
    report.cpu(
        cpu(server_cpu0, server_cpu1),
        cpu(client_cpu0, client_cpu1),
        elapsed,
    );
    Ok(report)
}

async fn ws_sender(
    mut ws: client::Ws,
    index: usize,
    room: String,
    start: Instant,
    end: Instant,
    size: usize,
    window: usize,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        acked: 0,
        errors: 0,
        latency: histogram(),
    };
    let mut in_flight: HashMap<String, Instant> = HashMap::new();
    let mut seq = 0u64;
    tokio::time::sleep_until(start).await;
    let body = client::padded(format!("ingest {index}"), size);
    let make = |seq: u64| {
        (
            format!("{index}-{seq}"),
            client::send_frame(&room, &body, &format!("{index}-{seq}")),
        )
    };
    for _ in 0..window {
        seq += 1;
        let (nonce, message) = make(seq);
        ws.feed(message).await?;
        in_flight.insert(nonce, Instant::now());
    }
    ws.flush().await?;
    let drain_until = end + Duration::from_secs(10);
    while !in_flight.is_empty() {
        let Ok(next) = tokio::time::timeout_at(drain_until, ws.next()).await else {
            break;
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            _ => anyhow::bail!("sender {index}: connection closed"),
        };
        let frame = Frame::parse(text.as_str())?;
        let Some(nonce) = frame.nonce else { continue };
        let Some(sent_at) = in_flight.remove(nonce.as_ref()) else {
            continue;
        };
        let now = Instant::now();
        if frame.kind == "message" {
            if now <= end {
                outcome.acked += 1;
                outcome
                    .latency
                    .saturating_record((now - sent_at).as_micros().max(1) as u64);
            }
        } else {
            outcome.errors += 1;
        }
        if now < end {
            seq += 1;
            let (nonce, message) = make(seq);
            ws.send(message).await?;
            in_flight.insert(nonce, Instant::now());
        }
    }
    Ok(outcome)
}

async fn rest_sender(
    api: Api,
    user: User,
    index: usize,
    room: String,
    start: Instant,
    end: Instant,
    size: usize,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        acked: 0,
        errors: 0,
        latency: histogram(),
    };
    let body = client::padded(format!("ingest {index}"), size);
    tokio::time::sleep_until(start).await;
    let mut seq = 0u64;
    while Instant::now() < end {
        seq += 1;
        let sent_at = Instant::now();
        let result = api
            .post_message(&user, &room, &body, &format!("{index}-{seq}"))
            .await;
        let now = Instant::now();
        match result {
            Ok(()) if now <= end => {
                outcome.acked += 1;
                outcome
                    .latency
                    .saturating_record((now - sent_at).as_micros().max(1) as u64);
            }
            Ok(()) => {}
            Err(_) => outcome.errors += 1,
        }
    }
    Ok(outcome)
}

/// Shared for the history fill: keeps `window` acked sends in flight on one joined socket
/// until `total` messages are acknowledged; returns how many were.
pub async fn fill(
    mut ws: client::Ws,
    room: Arc<String>,
    index: usize,
    total: u64,
    window: usize,
    size: usize,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<u64> {
    let body = client::padded(format!("history fill {index}"), size);
    let mut sent = 0u64;
    let mut acked = 0u64;
    while sent < total.min(window as u64) {
        sent += 1;
        ws.feed(client::send_frame(
            &room,
            &body,
            &format!("f{index}-{sent}"),
        ))
        .await?;
    }
    ws.flush().await?;
    while acked < sent {
        let text = match tokio::time::timeout(Duration::from_secs(60), ws.next()).await? {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            _ => anyhow::bail!("fill connection {index} closed"),
        };
        let frame = Frame::parse(text.as_str())?;
        if frame.nonce.is_none() {
            continue; // another filler's message
        }
        if frame.kind != "message" {
            anyhow::bail!("fill send refused: {}", frame.code.unwrap_or("?"));
        }
        acked += 1;
        progress.fetch_add(1, Ordering::Relaxed);
        if sent < total {
            sent += 1;
            ws.send(client::send_frame(
                &room,
                &body,
                &format!("f{index}-{sent}"),
            ))
            .await?;
        }
    }
    Ok(acked)
}
