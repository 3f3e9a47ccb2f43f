//! `fanout`: R rooms x N members, the first S members of each room also send, at an aggregate
//! open-loop rate. Every receiver checks the per-(room, sender) sequence numbers carried in the
//! bodies, so loss, duplicates and reordering are counted, and latency is measured from each
//! message's *scheduled* send time (no coordinated omission: a sender that falls behind sends
//! late messages at once, and their latency includes the wait).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Api, Frame, Ws};
use crate::report::{self, round1, Report, Sharded};
use crate::server::{self, Target};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Connections joined to each room (senders included).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Members of each room that also send.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Aggregate messages per second over all rooms and senders.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Message body size in bytes (the header is padded up to it).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Registered users; connection m of each room is user m % users (a user holds many connections).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Loopback source addresses to spread connections over (0: one per 20,000 connections).
    #[arg(long, default_value_t = 0)]
    pub sources: usize,
    /// After the last send, how long deliveries may keep arriving before the rest count as lost.
    #[arg(long, default_value_t = 10.0)]
    pub drain_seconds: f64,
}

/// What one receiving connection saw.
#[derive(Default)]
struct Seen {
    room: usize,
    /// Distinct sequence numbers received per sender of the room.
    unique: Vec<u64>,
    duplicates: u64,
    out_of_order: u64,
    /// Messages whose server id did not increase (the room's order broke).
    id_regressions: u64,
    errors: u64,
    closed: bool,
    malformed: u64,
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.senders >= 1 && args.senders <= args.members,
        "need 1 <= senders <= members"
    );
    let connections = args.rooms * args.members;
    server::check_open_files(connections as u64)?;
    let api = Api::new(&target.base);
    let users = api
        .register_users(args.users.clamp(1, args.members))
        .await?;
    let rooms = Arc::new(api.create_rooms(&users[0], args.rooms).await?);
    eprintln!(
        "fanout: {} users, {} rooms; connecting {connections}",
        users.len(),
        rooms.len()
    );

    let sources = if args.sources == 0 {
        connections.div_ceil(20_000)
    } else {
        args.sources
    };
    let connected = Instant::now();
    let gate = Arc::new(Semaphore::new(128));
    let mut opening = Vec::with_capacity(connections);
    for c in 0..connections {
        let (room, member) = (c / args.members, c % args.members);
        let token = users[member % users.len()].token.clone();
        let room_id = rooms[room].clone();
        let gate = gate.clone();
        let addr = target.addr;
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let mut ws = client::connect(addr, &token, client::source_for(c, sources)).await?;
            client::join(&mut ws, &room_id).await?;
            anyhow::Ok(ws)
        }));
    }
    let mut sockets = Vec::with_capacity(connections);
    for task in opening {
        sockets.push(task.await?.context("opening a member connection")?);
    }
    let connect_time = connected.elapsed();
    eprintln!(
        "fanout: connected in {:.1} s; sending for {} s",
        connect_time.as_secs_f64(),
        args.seconds
    );

    // Let presence frames from the joins drain before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let latency = Arc::new(Sharded::new(64));
    let acks = Arc::new(Sharded::new(8));
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let total_senders = args.rooms * args.senders;
    let period = Duration::from_secs_f64(total_senders as f64 / args.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(args.seconds);
    let (server_cpu0, client_cpu0) = (target.cpu(), server::own_cpu());

    let mut receivers = Vec::with_capacity(connections);
    let mut senders = Vec::with_capacity(total_senders);
    for (c, ws) in sockets.into_iter().enumerate() {
        let (room, member) = (c / args.members, c % args.members);
        let (sink, stream) = ws.split();
        let receiver = Receiver {
            room,
            senders: args.senders,
            shard: c,
            start,
            latency: latency.clone(),
            acks: acks.clone(),
            delivered: delivered.clone(),
        };
        receivers.push(tokio::spawn(receiver.run(stream, stop.clone())));
        if member < args.senders {
            let sender = Sender {
                room,
                index: member,
                room_id: rooms[room].clone(),
                // Spread the senders' schedules evenly over one period.
                first: start
                    + period.mul_f64((room * args.senders + member) as f64 / total_senders as f64),
                period,
                start,
                end,
                size: args.size,
            };
            senders.push(tokio::spawn(sender.run(sink)));
        } else {
            // Keep the write half alive (tungstenite answers pings through it).
            let stop = stop.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                drop(sink);
            });
        }
    }

    let mut sent = vec![vec![0u64; args.senders]; args.rooms];
    let mut send_errors = 0u64;
    let mut open_sinks = Vec::with_capacity(total_senders);
    for task in senders {
        let (room, index, count, failed, sink) = task.await?;
        sent[room][index] = count;
        send_errors += u64::from(failed);
        open_sinks.push(sink);
    }
    let total_sent: u64 = sent.iter().flatten().sum();
    let expected = total_sent * args.members as u64;
    // Drain: wait until everything expected arrived, or nothing more arrives for a while.
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_seconds);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let finished = Instant::now();
    let elapsed = finished - start;
    let (server_cpu1, client_cpu1) = (target.cpu(), server::own_cpu());
    stop.cancel();

    let mut seen = Vec::with_capacity(connections);
    for task in receivers {
        seen.push(task.await?);
    }
    drop(open_sinks);
    let mut lost = 0u64;
    let (mut unique, mut duplicates, mut out_of_order, mut id_regressions) =
        (0u64, 0u64, 0u64, 0u64);
    let (mut errors, mut closed, mut malformed) = (0u64, 0u64, 0u64);
    for s in &seen {
        for (index, &got) in s.unique.iter().enumerate() {
            lost += sent[s.room][index].saturating_sub(got);
            unique += got;
        }
        duplicates += s.duplicates;
        out_of_order += s.out_of_order;
        id_regressions += s.id_regressions;
        errors += s.errors;
        malformed += s.malformed;
        closed += u64::from(s.closed);
    }
    let deliveries = unique + duplicates;
    // Deliveries per second over the sending window plus the time the last ones took to arrive.
    let window = (finished.min(end + Duration::from_secs(1)) - start).as_secs_f64();

    let mut report = Report::new(
        "fanout",
        format!(
            "fanout: {} rooms x {} members, {} sender(s)/room, {} msg/s for {} s, {} B bodies",
            args.rooms, args.members, args.senders, args.rate, args.seconds, args.size
        ),
    );
    report.field("rooms", args.rooms.into());
    report.field("members", args.members.into());
    report.field("senders", args.senders.into());
    report.field("rate", args.rate.into());
    report.field("seconds", args.seconds.into());
    report.both("connections", "connections", connections as u64);
    report.both(
        "connect + join all (s)",
        "connect_s",
        (connect_time.as_secs_f64() * 100.0).round() / 100.0,
    );
    report.both("messages sent", "sent", total_sent);
    report.both("send failures (senders)", "send_errors", send_errors);
    report.both("deliveries expected", "expected", expected);
    report.both("deliveries received", "delivered", deliveries);
    report.both("lost", "lost", lost);
    report.both("duplicates", "duplicates", duplicates);
    report.both("out of order", "out_of_order", out_of_order);
    report.both("server id regressions", "id_regressions", id_regressions);
    report.both("error frames", "errors", errors);
    report.both("connections closed by server", "closed", closed);
    report.both("unparsable frames", "malformed", malformed);
    report.both(
        "deliveries/s",
        "deliveries_per_sec",
        round1(deliveries as f64 / window),
    );
    report::latency(
        &mut report,
        "latency",
        "latency (scheduled send -> delivery)",
        &latency.merged(),
    );
    report::latency(
        &mut report,
        "ack",
        "ack (scheduled send -> own durable copy)",
        &acks.merged(),
    );
    let cpu = |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| b.saturating_sub(a));
    report.cpu(
        cpu(server_cpu0, server_cpu1),
        cpu(client_cpu0, client_cpu1),
        elapsed,
    );
    if let Some(rss) = target.rss() {
        report.both(
            "server RSS at end (MiB)",
            "server_rss_mib",
            round1(rss as f64 / 1048576.0),
        );
    }
    Ok(report)
}

type WsSink = futures_util::stream::SplitSink<Ws, Message>;

struct Sender {
    room: usize,
    index: usize,
    room_id: String,
    first: Instant,
    period: Duration,
    start: Instant,
    end: Instant,
    size: usize,
}

impl Sender {
    /// Sends on schedule until `end`; returns (room, index, messages sent, whether a send
    /// failed) and the write half,
    /// which must stay open while the deliveries drain.
    async fn run(self, mut sink: WsSink) -> (usize, usize, u64, bool, WsSink) {
        let mut seq = 0u64;
        loop {
            let scheduled = self.first + self.period.mul_f64(seq as f64);
            if scheduled >= self.end {
                break;
            }
            tokio::time::sleep_until(scheduled).await;
            seq += 1;
            let micros = (scheduled - self.start).as_micros();
            // Body header: room, sender index in the room, sequence, scheduled time (us).
            let body = client::padded(
                format!("{} {} {seq} {micros}", self.room, self.index),
                self.size,
            );
            let nonce = format!("{}-{}-{seq}", self.room, self.index);
            if let Err(err) = sink
                .send(client::send_frame(&self.room_id, &body, &nonce))
                .await
            {
                eprintln!("sender {}/{}: {err}", self.room, self.index);
                return (self.room, self.index, seq - 1, true, sink);
            }
        }
        (self.room, self.index, seq, false, sink)
    }
}

struct Receiver {
    room: usize,
    senders: usize,
    shard: usize,
    start: Instant,
    latency: Arc<Sharded>,
    acks: Arc<Sharded>,
    delivered: Arc<AtomicU64>,
}

impl Receiver {
    async fn run(
        self,
        mut stream: futures_util::stream::SplitStream<Ws>,
        stop: CancellationToken,
    ) -> Seen {
        let mut seen = Seen {
            room: self.room,
            unique: vec![0; self.senders],
            ..Seen::default()
        };
        let mut last = vec![0u64; self.senders];
        let mut missing: Vec<HashSet<u64>> = vec![HashSet::new(); self.senders];
        let mut last_id = String::new();
        loop {
            let frame = tokio::select! {
                () = stop.cancelled() => break,
                frame = stream.next() => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    seen.closed = true;
                    break;
                }
                Some(Ok(_)) => continue,
            };
            let now = Instant::now();
            let Ok(frame) = Frame::parse(text.as_str()) else {
                seen.malformed += 1;
                continue;
            };
            match frame.kind {
                "message" => {}
                "error" => {
                    seen.errors += 1;
                    continue;
                }
                _ => continue,
            }
            let Some(message) = frame.message else {
                seen.malformed += 1;
                continue;
            };
            let Some((room, sender, seq, micros)) = parse_header(&message.body) else {
                seen.malformed += 1;
                continue;
            };
            if room != self.room || sender >= self.senders {
                seen.malformed += 1;
                continue;
            }
            if message.id <= last_id.as_str() {
                seen.id_regressions += 1;
            } else {
                last_id.clear();
                last_id.push_str(message.id);
            }
            let latency = now.saturating_duration_since(self.start + Duration::from_micros(micros));
            self.latency.record(self.shard, latency);
            if frame.nonce.is_some() {
                self.acks.record(self.shard, latency);
            }
            self.delivered.fetch_add(1, Ordering::Relaxed);
            let prev = last[sender];
            if seq == prev + 1 {
                last[sender] = seq;
                seen.unique[sender] += 1;
            } else if seq > prev + 1 {
                missing[sender].extend(prev + 1..seq);
                last[sender] = seq;
                seen.unique[sender] += 1;
            } else if missing[sender].remove(&seq) {
                seen.out_of_order += 1;
                seen.unique[sender] += 1;
            } else {
                seen.duplicates += 1;
            }
        }
        seen
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
