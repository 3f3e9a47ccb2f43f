//! The R x N fan-out mesh that `fanout`, `saturate`, `sweep` and `login-flood` share: R rooms of
//! N joined WebSockets, the first S members of each room also sending. Connections are opened
//! once and driven through one or more *steps*, each an open-loop sending phase at an aggregate
//! rate followed by a drain, so a scenario can raise the rate step by step on the same sockets.
//!
//! Each body carries the room, the sender, a sequence number and the *scheduled* send time;
//! every receiver checks the sequence per (room, sender) for loss, duplicates and reordering, and
//! that server ids only increase. Latency is measured from the scheduled send time to arrival (no
//! coordinated omission: a sender that falls behind sends the late messages at once, and their
//! latency includes the wait). Latencies can be split into *phases* by scheduled send time (e.g.
//! before / during / after a TTL sweep), so a disturbance is measured on the messages sent while
//! it lasted. The receiving side is in `receiver.rs`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Api, User, Ws};
use crate::receiver::{Counters, Receiver};
pub use crate::receiver::{Counts, Phases};
use crate::report::{self, round1, Report, Sharded};
use crate::server::{self, Target};

/// The mesh's shape, shared by every scenario built on it (flattened into their arguments).
#[derive(clap::Args, Clone)]
pub struct MeshArgs {
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Connections joined to each room (senders included).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Members of each room that also send.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Message body size in bytes (the header is padded up to it).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Registered users; connection m of each room is user m % users (a user holds many connections).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Loopback source addresses to spread connections over (0: one per 20,000 connections).
    #[arg(long, default_value_t = 0)]
    pub sources: usize,
    /// After connecting, read every socket until no frame (presence, `added`, `room_updated`,
    /// ...) has arrived for 1 s before the first step starts, instead of only pausing 0.5 s
    /// with the sockets unread: the set-up's notifications then drain before the clock starts
    /// instead of competing with the first step's deliveries. Off by default: the recorded
    /// numbers in docs/performance.md before 2026-12-01 were taken without it.
    #[arg(long)]
    pub settle: bool,
}

impl MeshArgs {
    pub fn connections(&self) -> usize {
        self.rooms * self.members
    }

    /// "10 rooms x 100 members, 1 sender(s)/room, 64 B bodies", for report titles.
    pub fn describe(&self) -> String {
        format!(
            "{} rooms x {} members, {} sender(s)/room, {} B bodies",
            self.rooms, self.members, self.senders, self.size
        )
    }

    /// Adds the shape to the JSON line (the keys `fanout` has always had).
    pub fn report_into(&self, report: &mut Report) {
        report.field("rooms", self.rooms.into());
        report.field("members", self.members.into());
        report.field("senders", self.senders.into());
    }
}

/// What one step measured.
pub struct Step {
    pub rate: f64,
    pub sent: u64,
    /// Senders whose socket failed (a failed sender stays failed in later steps).
    pub send_errors: u64,
    pub expected: u64,
    pub lost: u64,
    pub counts: Counts,
    /// The sending time plus up to 1 s of the drain: what deliveries/s is computed over.
    pub window: Duration,
    /// From the first scheduled send to the end of the drain.
    pub elapsed: Duration,
    /// Per phase (one unless the scenario marked phases).
    pub latency: Vec<Histogram<u64>>,
    pub acks: Histogram<u64>,
    pub server_cpu: Option<Duration>,
    pub client_cpu: Option<Duration>,
}

impl Step {
    pub fn deliveries_per_sec(&self) -> f64 {
        round1(self.counts.delivered as f64 / self.window.as_secs_f64())
    }

    /// No loss, duplicates, reordering, id regressions, error frames, closes or failed senders.
    pub fn clean(&self) -> bool {
        let c = &self.counts;
        self.lost
            + c.duplicates
            + c.out_of_order
            + c.id_regressions
            + c.errors
            + c.closed
            + c.malformed
            + self.send_errors
            == 0
            && self.sent > 0
    }

    /// Every phase's latency together.
    pub fn latency_all(&self) -> Histogram<u64> {
        let mut all = report::histogram();
        for phase in &self.latency {
            all.add(phase).expect("same bounds");
        }
        all
    }

    /// The `q` quantile of all latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_all().value_at_quantile(q) as f64 / 1000.0
    }

    /// Counts, deliveries/s, overall and ack latency and CPU, as rows and the JSON keys `fanout`
    /// has always printed.
    pub fn report_into(&self, report: &mut Report) {
        let c = &self.counts;
        report.both("messages sent", "sent", self.sent);
        report.both("send failures (senders)", "send_errors", self.send_errors);
        report.both("deliveries expected", "expected", self.expected);
        report.both("deliveries received", "delivered", c.delivered);
        report.both("lost", "lost", self.lost);
        report.both("duplicates", "duplicates", c.duplicates);
        report.both("out of order", "out_of_order", c.out_of_order);
        report.both("server id regressions", "id_regressions", c.id_regressions);
        report.both("error frames", "errors", c.errors);
        report.both("connections closed by server", "closed", c.closed);
        report.both("unparsable frames", "malformed", c.malformed);
        report.both(
            "other frames during the step (presence, added, ...)",
            "other_frames",
            c.other,
        );
        report.both(
            "deliveries/s",
            "deliveries_per_sec",
            self.deliveries_per_sec(),
        );
        report::latency(
            report,
            "latency",
            "latency (scheduled send -> delivery)",
            &self.latency_all(),
        );
        report::latency(
            report,
            "ack",
            "ack (scheduled send -> own durable copy)",
            &self.acks,
        );
        report.cpu(self.server_cpu, self.client_cpu, self.elapsed);
    }
}

/// Connections, connect time and (with `--settle`) the settling of one mesh.
#[derive(Clone, Copy)]
pub struct Setup {
    pub connections: usize,
    pub connect_time: Duration,
    pub settled: Option<(Duration, u64)>,
}

impl Setup {
    /// As rows and the JSON keys `fanout` has always printed (`connections`, `connect_s`), plus
    /// `settle_frames` and `settle_s` with `--settle`.
    pub fn report_into(&self, report: &mut Report) {
        report.both("connections", "connections", self.connections as u64);
        report.both(
            "connect + join all (s)",
            "connect_s",
            (self.connect_time.as_secs_f64() * 100.0).round() / 100.0,
        );
        if let Some((took, frames)) = self.settled {
            report.both(
                "set-up frames read before the clock (--settle)",
                "settle_frames",
                frames,
            );
            report.both(
                "... settle time (s)",
                "settle_s",
                round1(took.as_secs_f64()),
            );
        }
    }
}

/// How a step ends its sending: after `seconds`, or earlier when `stop` is cancelled.
pub struct StepPlan {
    pub rate: f64,
    pub seconds: f64,
    pub stop: CancellationToken,
    /// After the last send, how long deliveries may keep arriving before the rest count as lost.
    pub drain: Duration,
}

impl StepPlan {
    pub fn timed(rate: f64, seconds: f64, drain_seconds: f64) -> Self {
        Self {
            rate,
            seconds,
            stop: CancellationToken::new(),
            drain: Duration::from_secs_f64(drain_seconds),
        }
    }
}

type WsSink = futures_util::stream::SplitSink<Ws, Message>;

/// R x N connected, joined sockets with their receivers running.
pub struct Mesh {
    members: usize,
    senders: Vec<Sender>,
    /// Write halves of the members that only receive: kept open (tungstenite answers pings
    /// through them) until the mesh closes.
    idle: Vec<WsSink>,
    receivers: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
    phases: Arc<Phases>,
    acks: Arc<Sharded>,
    origin: Instant,
    size: usize,
    stop: CancellationToken,
    pub connections: usize,
    pub connect_time: Duration,
    /// With `--settle`: how long the set-up's frames took to go quiet, and how many arrived.
    pub settled: Option<(Duration, u64)>,
}

impl Mesh {
    /// Registers the users, creates the rooms and connects the mesh (for scenarios with no
    /// set-up of their own). Returns the users too, for scenarios that log in as them.
    pub async fn setup(
        target: &Target,
        args: &MeshArgs,
        phases: usize,
    ) -> anyhow::Result<(Self, Vec<User>)> {
        anyhow::ensure!(
            args.senders >= 1 && args.senders <= args.members,
            "need 1 <= senders <= members"
        );
        server::check_open_files(args.connections() as u64)?;
        if target.bare {
            // The bare reference has no accounts and no room API: rooms are just names.
            let users = vec![User {
                name: "bare".into(),
                token: String::new(),
            }];
            let rooms: Vec<String> = (0..args.rooms).map(|r| format!("room{r}")).collect();
            let mesh = Self::connect(target, args, &users, &rooms, phases).await?;
            return Ok((mesh, users));
        }
        let api = Api::new(&target.base);
        let users = api
            .register_users(args.users.clamp(1, args.members))
            .await?;
        let rooms = api.create_rooms(&users[0], args.rooms).await?;
        let mesh = Self::connect(target, args, &users, &rooms, phases).await?;
        Ok((mesh, users))
    }

    /// Opens `rooms.len()` x `args.members` connections (128 attempts in flight), joins each to
    /// its room (connection m of a room as user m % users) and starts the receivers.
    pub async fn connect(
        target: &Target,
        args: &MeshArgs,
        users: &[User],
        rooms: &[String],
        phases: usize,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            args.senders >= 1 && args.senders <= args.members,
            "need 1 <= senders <= members"
        );
        let connections = rooms.len() * args.members;
        server::check_open_files(connections as u64)?;
        eprintln!(
            "mesh: {} users, {} rooms; connecting {connections}",
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
            let bare = target.bare;
            opening.push(tokio::spawn(async move {
                let _permit = gate.acquire().await;
                let source = client::source_for(c, sources);
                if bare {
                    return client::connect_bare(addr, &room_id, source).await;
                }
                let mut ws = client::connect(addr, &token, source).await?;
                client::join(&mut ws, &room_id).await?;
                anyhow::Ok(ws)
            }));
        }
        let mut sockets = Vec::with_capacity(connections);
        for task in opening {
            sockets.push(task.await?.context("opening a member connection")?);
        }
        let connect_time = connected.elapsed();
        eprintln!("mesh: connected in {:.1} s", connect_time.as_secs_f64());
        // Let presence frames from the joins drain before any clock starts.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let origin = Instant::now();
        let counters = Arc::new(Counters::default());
        let phases = Arc::new(Phases::new(origin, phases));
        let acks = Arc::new(Sharded::new(8));
        let stop = CancellationToken::new();
        let mut mesh = Self {
            members: args.members,
            senders: Vec::with_capacity(rooms.len() * args.senders),
            idle: Vec::with_capacity(connections),
            receivers: Vec::with_capacity(connections),
            counters,
            phases,
            acks,
            origin,
            size: args.size,
            stop,
            connections,
            connect_time,
            settled: None,
        };
        for (c, ws) in sockets.into_iter().enumerate() {
            let (room, member) = (c / args.members, c % args.members);
            let (sink, stream) = ws.split();
            let receiver = Receiver {
                room,
                senders: args.senders,
                shard: c,
                origin,
                counters: mesh.counters.clone(),
                phases: mesh.phases.clone(),
                acks: mesh.acks.clone(),
                check_ids: !target.bare,
            };
            mesh.receivers
                .push(tokio::spawn(receiver.run(stream, mesh.stop.clone())));
            if member < args.senders {
                mesh.senders.push(Sender {
                    room,
                    index: member,
                    room_id: rooms[room].clone(),
                    seq: 0,
                    failed: false,
                    bare: target.bare,
                    sink,
                });
            } else {
                mesh.idle.push(sink);
            }
        }
        if args.settle {
            mesh.settled = Some(mesh.settle().await);
        }
        Ok(mesh)
    }

    /// Waits until no frame has arrived for 1 s (at most 10 minutes); returns the time taken
    /// and the frames that arrived meanwhile.
    async fn settle(&self) -> (Duration, u64) {
        let started = Instant::now();
        let first = self.counters.snapshot();
        let seen = |c: Counts| c.other + c.delivered + c.errors + c.malformed;
        let mut last = seen(first);
        while started.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = seen(self.counters.snapshot());
            if now == last {
                break;
            }
            last = now;
        }
        let frames = last - seen(first);
        eprintln!(
            "mesh: settled in {:.1} s ({frames} set-up frames read)",
            started.elapsed().as_secs_f64()
        );
        (started.elapsed(), frames)
    }

    /// What setting the mesh up took, to report after `close`.
    pub fn summary(&self) -> Setup {
        Setup {
            connections: self.connections,
            connect_time: self.connect_time,
            settled: self.settled,
        }
    }

    /// Phase marks for the step about to run or running (see `Phases`).
    pub fn phases(&self) -> Arc<Phases> {
        self.phases.clone()
    }

    /// Sends at `plan.rate` (aggregate over all senders, spread evenly) until `plan.seconds` pass
    /// or `plan.stop` is cancelled, then waits until every expected delivery arrived or the drain
    /// time is up. Latencies and phase marks start afresh with each step.
    pub async fn step(&mut self, target: &Target, plan: &StepPlan) -> anyhow::Result<Step> {
        self.phases.reset();
        self.acks.reset();
        let before = self.counters.snapshot();
        let total = self.senders.len();
        let period = Duration::from_secs_f64(total as f64 / plan.rate);
        let start = Instant::now() + Duration::from_millis(100);
        let end = start + Duration::from_secs_f64(plan.seconds);
        let (server_cpu0, client_cpu0) = (target.cpu(), server::own_cpu());
        let mut tasks = Vec::with_capacity(total);
        for (order, sender) in self.senders.drain(..).enumerate() {
            let schedule = Schedule {
                // Spread the senders' schedules evenly over one period.
                first: start + period.mul_f64(order as f64 / total as f64),
                period,
                end,
                origin: self.origin,
                size: self.size,
                stop: plan.stop.clone(),
            };
            tasks.push(tokio::spawn(sender.run(schedule)));
        }
        let (mut sent, mut send_errors) = (0u64, 0u64);
        for task in tasks {
            let (sender, count) = task.await?;
            sent += count;
            send_errors += u64::from(sender.failed);
            self.senders.push(sender);
        }
        let sending_ended = Instant::now();
        let expected = sent * self.members as u64;
        // Drain: wait until everything expected arrived, or the drain time is up.
        let drain_deadline = sending_ended + plan.drain;
        while self.counters.snapshot().since(before).unique() < expected
            && Instant::now() < drain_deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let finished = Instant::now();
        let (server_cpu1, client_cpu1) = (target.cpu(), server::own_cpu());
        let counts = self.counters.snapshot().since(before);
        let cpu =
            |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| b.saturating_sub(a));
        Ok(Step {
            rate: plan.rate,
            sent,
            send_errors,
            expected,
            lost: expected.saturating_sub(counts.unique()),
            counts,
            window: finished.min(sending_ended + Duration::from_secs(1)) - start,
            elapsed: finished - start,
            latency: self.phases.merged(),
            acks: self.acks.merged(),
            server_cpu: cpu(server_cpu0, server_cpu1),
            client_cpu: cpu(client_cpu0, client_cpu1),
        })
    }

    /// Stops the receivers and closes every socket.
    pub async fn close(self) {
        self.stop.cancel();
        for receiver in self.receivers {
            let _ = receiver.await;
        }
    }
}

/// One step's timetable for one sender.
struct Schedule {
    first: Instant,
    period: Duration,
    end: Instant,
    origin: Instant,
    size: usize,
    stop: CancellationToken,
}

/// A sending member: its write half and its sequence, which runs on across steps.
struct Sender {
    room: usize,
    index: usize,
    room_id: String,
    seq: u64,
    failed: bool,
    /// Sends the bare reference's frame instead of confab's `send`.
    bare: bool,
    sink: WsSink,
}

impl Sender {
    /// Sends on schedule until the step ends; returns itself (the write half must stay open
    /// while deliveries drain, and for the next step) and how many it sent in this step.
    async fn run(mut self, schedule: Schedule) -> (Self, u64) {
        let mut sent = 0u64;
        while !self.failed {
            let scheduled = schedule.first + schedule.period.mul_f64(sent as f64);
            if scheduled >= schedule.end {
                break;
            }
            tokio::select! {
                () = schedule.stop.cancelled() => break,
                () = tokio::time::sleep_until(scheduled) => {}
            }
            self.seq += 1;
            let micros = (scheduled - schedule.origin).as_micros();
            // Body header: room, sender index in the room, sequence, scheduled time (us).
            let body = client::padded(
                format!("{} {} {} {micros}", self.room, self.index, self.seq),
                schedule.size,
            );
            let frame = if self.bare {
                client::bare_message_frame(&body)
            } else {
                let nonce = format!("{}-{}-{}", self.room, self.index, self.seq);
                client::send_frame(&self.room_id, &body, &nonce)
            };
            if let Err(err) = self.sink.send(frame).await {
                eprintln!("sender {}/{}: {err}", self.room, self.index);
                self.seq -= 1;
                self.failed = true;
                break;
            }
            sent += 1;
        }
        (self, sent)
    }
}
