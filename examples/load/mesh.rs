//! The R x N fan-out mesh that `fanout`, `saturate`, `sweep` and `login-flood` share: R rooms of
//! N members, the first S members of each room also sending; by default each member is its own
//! WebSocket, with `--rooms-per-user` each user is one WebSocket joined to several rooms
//! (`membership.rs`). Connections are opened
//! once and driven through one or more *steps*, each an open-loop sending phase at an aggregate
//! rate followed by a drain, so a scenario can raise the rate step by step on the same sockets.
//!
//! Each body carries the room, the sender, a sequence number and the *scheduled* send time;
//! every receiver checks the sequence per (room, sender) for loss, duplicates and reordering, and
//! that server ids only increase. Latency is measured from the scheduled send time to arrival (no
//! coordinated omission: a sender that falls behind sends the late messages at once, and their
//! latency includes the wait). Latencies can be split into *phases* by scheduled send time (e.g.
//! before / during / after a TTL sweep), so a disturbance is measured on the messages sent while
//! it lasted. The sending side is in `sender.rs`, the receiving side in `receiver.rs`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Api, User};
use crate::membership;
pub use crate::mesh_args::MeshArgs;
use crate::receiver::{Counters, Receiver};
pub use crate::receiver::{Counts, Phases};
use crate::report::{self, round1, Report, Sharded};
use crate::sender::{Schedule, Sender, SenderSink, Wire, WsSink};
use crate::server::{self, Target};

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
    pub prepared: Option<Prepared>,
}

/// With `--rooms-per-user`: how long registering the users took, and the whole set-up
/// (register, create the rooms, connect and join).
#[derive(Clone, Copy)]
pub struct Prepared {
    pub register_time: Duration,
    pub setup_time: Duration,
}

impl Setup {
    /// As rows and the JSON keys `fanout` has always printed (`connections`, `connect_s`), plus
    /// `settle_frames` and `settle_s` with `--settle`, and `register_s` and `setup_s` with
    /// `--rooms-per-user`.
    pub fn report_into(&self, report: &mut Report) {
        let secs = |d: Duration| (d.as_secs_f64() * 100.0).round() / 100.0;
        report.both("connections", "connections", self.connections as u64);
        if let Some(prepared) = self.prepared {
            report.both(
                "register users (s)",
                "register_s",
                secs(prepared.register_time),
            );
        }
        report.both(
            "connect + join all (s)",
            "connect_s",
            secs(self.connect_time),
        );
        if let Some(prepared) = self.prepared {
            report.both(
                "set-up: register + rooms + connect (s)",
                "setup_s",
                secs(prepared.setup_time),
            );
        }
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

/// The mesh's connected, joined sockets with their receivers running.
pub struct Mesh {
    members: usize,
    /// In (room, index) order, whatever the connection model.
    senders: Vec<Sender>,
    /// Write halves of the connections that only receive: kept open (tungstenite answers pings
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
    /// With `--rooms-per-user`, filled by `setup`.
    pub prepared: Option<Prepared>,
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
        let started = Instant::now();
        if target.bare {
            // The bare reference has no accounts and no room API: rooms are just names, and
            // users stand-ins (one per connection with `--rooms-per-user`).
            let count = match args.rooms_per_user {
                Some(_) => args.user_count()?,
                None => 1,
            };
            let bare = User {
                name: "bare".into(),
                token: String::new(),
            };
            let users = vec![bare; count];
            let rooms: Vec<String> = (0..args.rooms).map(|r| format!("room{r}")).collect();
            let mesh = Self::connect(target, args, &users, &rooms, phases).await?;
            return Ok((mesh, users));
        }
        let api = Api::new(&target.base);
        let (users, register_time) = args.register(&api).await?;
        let rooms = api.create_rooms(&users[0], args.rooms).await?;
        let mut mesh = Self::connect(target, args, &users, &rooms, phases).await?;
        if args.rooms_per_user.is_some() {
            // Without the settling, which is not set-up work.
            let setup_time = started.elapsed() - mesh.settled.map_or(Duration::ZERO, |s| s.0);
            eprintln!(
                "mesh: set up in {:.1} s (register {:.1} s, connect + join {:.1} s)",
                setup_time.as_secs_f64(),
                register_time.as_secs_f64(),
                mesh.connect_time.as_secs_f64()
            );
            mesh.prepared = Some(Prepared {
                register_time,
                setup_time,
            });
        }
        Ok((mesh, users))
    }

    /// Opens the mesh's connections (128 attempts in flight), each as its user (see
    /// `membership.rs`: by default connection m of a room as user m % users), joins each to its
    /// room(s) one `join` at a time, and starts the receivers.
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
        let layout = args.layout(rooms.len(), users.len())?;
        let connections = layout.len();
        server::check_open_files(connections as u64)?;
        match args.rooms_per_user {
            None => eprintln!(
                "mesh: {} users, {} rooms; connecting {connections}",
                users.len(),
                rooms.len()
            ),
            Some(per_user) => eprintln!(
                "mesh: {} users, {} rooms; connecting {connections} (1 per user, each joining \
                 {per_user} rooms)",
                users.len(),
                rooms.len()
            ),
        }
        let sources = if args.sources == 0 {
            connections.div_ceil(20_000)
        } else {
            args.sources
        };
        let connected = Instant::now();
        let gate = Arc::new(Semaphore::new(128));
        let mut opening = Vec::with_capacity(connections);
        for (c, conn) in layout.iter().enumerate() {
            let token = users[conn.user].token.clone();
            let room_ids: Vec<String> = conn.slots.iter().map(|s| rooms[s.room].clone()).collect();
            let gate = gate.clone();
            let addr = target.addr;
            let bare = target.bare;
            opening.push(tokio::spawn(async move {
                let _permit = gate.acquire().await;
                let source = client::source_for(c, sources);
                if bare {
                    return client::connect_bare(addr, &room_ids, source).await;
                }
                let mut ws = client::connect(addr, &token, source).await?;
                for room_id in &room_ids {
                    client::join(&mut ws, room_id).await?;
                }
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
            prepared: None,
        };
        for (c, (ws, conn)) in sockets.into_iter().zip(&layout).enumerate() {
            let (sink, stream) = ws.split();
            let receiver = Receiver {
                rooms: conn.slots.iter().map(|s| s.room).collect(),
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
            let sending: Vec<_> = conn
                .slots
                .iter()
                .filter(|s| s.member < args.senders)
                .collect();
            let wire = match (target.bare, conn.slots.len()) {
                (false, _) => Wire::Confab,
                (true, 1) => Wire::Bare,
                (true, _) => Wire::BareRouted,
            };
            let sender = |slot: &membership::Slot, sink| {
                let room_id = rooms[slot.room].clone();
                Sender::new(slot.room, slot.member, room_id, wire, sink)
            };
            match sending.as_slice() {
                [] => mesh.idle.push(sink),
                [slot] => mesh.senders.push(sender(slot, SenderSink::Own(sink))),
                several => {
                    let sink = Arc::new(Mutex::new(sink));
                    for slot in several {
                        let shared = SenderSink::Shared(sink.clone());
                        mesh.senders.push(sender(slot, shared));
                    }
                }
            }
        }
        // Already in this order with a connection per membership; the step spreads the
        // senders' schedules over one period in this order.
        mesh.senders.sort_by_key(|s| (s.room, s.index));
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
            prepared: self.prepared,
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
