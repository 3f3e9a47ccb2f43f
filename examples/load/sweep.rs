//! `sweep`: chat latency while the TTL sweep deletes many full rooms (1,000 rooms x 1,000
//! messages by default).
//!
//! A room's expiry is fixed when it is created (`created + rooms.ttl`), so the chat rooms and the
//! rooms to sweep need two TTLs, hence two server runs on one data directory:
//!
//! 1. the server starts with the default TTL (7 days): users and the chat rooms are created;
//! 2. it restarts with `CONFAB_ROOMS__TTL=--fill-ttl` (30 s): the fill rooms are created and
//!    filled, `--fill-conns` rooms at a time, each over its own connection with `--window`
//!    acknowledged sends in flight. Each room is created right before it is filled, so it must
//!    be full within the TTL;
//! 3. when the last fill room has expired, the chat mesh (R x N) starts a fan-out; after
//!    `--baseline-seconds` the tool runs `confab sweep` (the admin command: the same
//!    `sweep_expired` the scheduled sweeper runs, inside the server, through its control socket)
//!    and times it; the fan-out goes on for `--tail-seconds` after the sweep returns.
//!
//! The scheduled sweeper is set to `CONFAB_ROOMS__SWEEP_INTERVAL=24h`: it sweeps only at start-up,
//! when nothing has expired, so the one sweep measured is the one the tool starts. Chat latency
//! is split by send time: before, during and after the sweep. The rooms deleted come from the
//! command's answer and from the `/metrics` sweep counters.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Api, User};
use crate::ingest;
use crate::mesh::{Mesh, MeshArgs, StepPlan};
use crate::report::{self, round1, Report};
use crate::server::{self, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub mesh: MeshArgs,
    /// Aggregate chat messages per second over all chat rooms and senders.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Rooms to fill and let expire.
    #[arg(long, default_value_t = 1000)]
    pub fill_rooms: usize,
    /// Messages in each of them.
    #[arg(long, default_value_t = 1000)]
    pub fill_messages: u64,
    /// Rooms filled at once (a connection each).
    #[arg(long, default_value_t = 16)]
    pub fill_conns: usize,
    /// Acknowledged sends in flight per filling connection (below `limits.outbound_queue`).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Body size of the fill messages.
    #[arg(long, default_value_t = 100)]
    pub fill_size: usize,
    /// `rooms.ttl` while the fill rooms are created: each must be full within it.
    #[arg(long, default_value_t = 30.0)]
    pub fill_ttl: f64,
    /// Chat before the sweep starts.
    #[arg(long, default_value_t = 5.0)]
    pub baseline_seconds: f64,
    /// Chat after the sweep ends.
    #[arg(long, default_value_t = 5.0)]
    pub tail_seconds: f64,
    /// Give up on a sweep that takes longer.
    #[arg(long, default_value_t = 1800.0)]
    pub max_sweep_seconds: f64,
    #[arg(long, default_value_t = 10.0)]
    pub drain_seconds: f64,
}

impl Args {
    /// Scheduled sweeps only at start-up (see the module comment).
    pub fn server_env(&self) -> Vec<(String, String)> {
        vec![("CONFAB_ROOMS__SWEEP_INTERVAL".into(), "24h".into())]
    }
}

/// What `confab sweep` did, as the tool saw it.
struct Sweep {
    took: Duration,
    answer: String,
    /// The number in "swept N expired room(s)".
    swept: Option<u64>,
}

pub async fn run(target: &mut Target, args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(
        target.admin_command(&[]).is_some(),
        "sweep restarts the server and runs `confab sweep` on its data directory: it needs a \
         server started by this tool (no --url)"
    );
    anyhow::ensure!(
        args.mesh.senders >= 1 && args.mesh.senders <= args.mesh.members,
        "need 1 <= senders <= members"
    );
    anyhow::ensure!(args.fill_ttl >= 1.0, "--fill-ttl must be at least 1 s");
    server::check_open_files(args.mesh.connections() as u64)?;
    let api = Api::new(&target.base);
    let (users, _) = args.mesh.register(&api).await?;
    let chat_rooms = api.create_rooms(&users[0], args.mesh.rooms).await?;

    let ttl = format!("{}ms", (args.fill_ttl * 1000.0).round() as u64);
    target
        .restart_with(&[("CONFAB_ROOMS__TTL", ttl.as_str())])
        .await
        .context("restarting with the short TTL")?;
    eprintln!(
        "sweep: {} chat rooms created; filling {} rooms x {} messages (rooms.ttl {ttl})",
        chat_rooms.len(),
        args.fill_rooms,
        args.fill_messages
    );
    let fill_started = Instant::now();
    let last_created = fill(target, args, &users).await?;
    let fill_time = fill_started.elapsed();
    let filled = args.fill_rooms as u64 * args.fill_messages;
    eprintln!(
        "sweep: filled {filled} messages in {:.1} s ({:.0}/s)",
        fill_time.as_secs_f64(),
        filled as f64 / fill_time.as_secs_f64()
    );
    let rss_filled = target.rss();

    let mut mesh = Mesh::connect(target, &args.mesh, &users, &chat_rooms, 3).await?;
    // The last fill room expires `fill_ttl` after its creation answered (the server's clock
    // reads its creation time before answering); a little more for millisecond rounding.
    let all_expired = last_created + Duration::from_secs_f64(args.fill_ttl + 0.05);
    let phases = mesh.phases();
    let stop_sending = CancellationToken::new();
    let plan = StepPlan {
        rate: args.rate,
        seconds: args.baseline_seconds + args.fill_ttl + args.max_sweep_seconds + args.tail_seconds,
        stop: stop_sending.clone(),
        drain: Duration::from_secs_f64(args.drain_seconds),
    };
    let metric = |name: &'static str| target.metric(name);
    let controller = async {
        let chat_started = Instant::now() + Duration::from_millis(100);
        let sweep_at =
            all_expired.max(chat_started + Duration::from_secs_f64(args.baseline_seconds));
        eprintln!(
            "sweep: chat running; sweeping in {:.1} s",
            (sweep_at - Instant::now()).as_secs_f64()
        );
        tokio::time::sleep_until(sweep_at).await;
        let swept_before = metric("confab_rooms_swept_total").await;
        let runs_before = metric("confab_sweep_runs_total").await;
        phases.mark(1);
        let sweep = run_sweep(target, args.max_sweep_seconds).await;
        phases.mark(2);
        let swept_after = metric("confab_rooms_swept_total").await;
        let runs_after = metric("confab_sweep_runs_total").await;
        if let Ok(sweep) = &sweep {
            eprintln!(
                "sweep: {} in {:.1} s; chat goes on for {} s",
                sweep.answer,
                sweep.took.as_secs_f64(),
                args.tail_seconds
            );
            tokio::time::sleep(Duration::from_secs_f64(args.tail_seconds)).await;
        }
        stop_sending.cancel();
        let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) as u64);
        sweep.map(|sweep| {
            (
                sweep,
                delta(swept_before, swept_after),
                delta(runs_before, runs_after),
            )
        })
    };
    let (step, sweep) = tokio::join!(mesh.step(target, &plan), controller);
    let setup = mesh.summary();
    mesh.close().await;
    let (step, (sweep, metric_swept, metric_runs)) = (step?, sweep?);

    let mut report = Report::new(
        "sweep",
        format!(
            "sweep: chat {} at {} msg/s while `confab sweep` deletes {} expired rooms x {} \
             messages",
            args.mesh.describe(),
            args.rate,
            args.fill_rooms,
            args.fill_messages
        ),
    );
    args.mesh.report_into(&mut report);
    report.field("rate", args.rate.into());
    report.field("fill_rooms", args.fill_rooms.into());
    report.field("fill_messages", args.fill_messages.into());
    report.both("messages filled", "filled", filled);
    report.both("fill time (s)", "fill_s", round1(fill_time.as_secs_f64()));
    report.both(
        "fill rate (acked msg/s)",
        "fill_per_sec",
        round1(filled as f64 / fill_time.as_secs_f64()),
    );
    if let Some(rss) = rss_filled {
        report.both(
            "server RSS after fill (MiB)",
            "server_rss_mib",
            round1(rss as f64 / 1048576.0),
        );
    }
    setup.report_into(&mut report);
    report.row("`confab sweep` answered", &sweep.answer);
    report.both(
        "sweep duration (s)",
        "sweep_s",
        (sweep.took.as_secs_f64() * 1000.0).round() / 1000.0,
    );
    report.field("rooms_swept", sweep.swept.into());
    report.row(
        "rooms deleted (answer / metrics)",
        format!("{} / {}", show(sweep.swept), show(metric_swept)),
    );
    report.field("rooms_swept_metric", metric_swept.into());
    report.row("sweep runs counted in /metrics", show(metric_runs));
    report.field("sweep_runs_metric", metric_runs.into());
    report.both(
        "messages deleted per second of sweep",
        "sweep_messages_per_sec",
        round1(
            sweep.swept.unwrap_or(0) as f64 * args.fill_messages as f64 / sweep.took.as_secs_f64(),
        ),
    );
    let phase_names = [
        ("before", "chat latency before the sweep"),
        ("during", "chat latency during the sweep"),
        ("after", "chat latency after the sweep"),
    ];
    for ((key, label), histogram) in phase_names.iter().zip(&step.latency) {
        report::latency(&mut report, key, label, histogram);
    }
    step.report_into(&mut report);
    Ok(report)
}

fn show(value: Option<u64>) -> String {
    value.map_or_else(|| "n/a".into(), |v| v.to_string())
}

/// Creates and fills the fill rooms, `fill_conns` at a time; returns when the last room's
/// creation was answered (so it expires by `fill_ttl` after that).
async fn fill(target: &Target, args: &Args, users: &[User]) -> anyhow::Result<Instant> {
    let api = Api::new(&target.base);
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(AtomicU64::new(0));
    let last_created = Arc::new(Mutex::new(Instant::now()));
    // Room creation flushes; one at a time, like the rest of the tool's set-up.
    let creating = Arc::new(Semaphore::new(1));
    let prefix = format!("sweep{:x}", std::process::id());
    let total = args.fill_rooms as u64 * args.fill_messages;
    let reporter = report::spawn_fill_progress("sweep", progress.clone(), total);
    let mut workers = Vec::new();
    for worker in 0..args.fill_conns.clamp(1, args.fill_rooms.max(1)) {
        let (api, next, progress) = (api.clone(), next.clone(), progress.clone());
        let (last_created, creating) = (last_created.clone(), creating.clone());
        let user = users[worker % users.len()].clone();
        let (addr, prefix) = (target.addr, prefix.clone());
        let (rooms, messages, window, size) = (
            args.fill_rooms,
            args.fill_messages,
            args.window.max(1),
            args.fill_size,
        );
        let ttl = args.fill_ttl;
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= rooms {
                    return anyhow::Ok(());
                }
                let room = {
                    let _one = creating.acquire().await?;
                    let room = api
                        .create_room(&user, format!("{prefix} fill {index}"))
                        .await?;
                    let mut last = last_created.lock().unwrap_or_else(|p| p.into_inner());
                    *last = (*last).max(Instant::now());
                    room
                };
                let mut ws = client::connect(addr, &user.token, None).await?;
                client::join(&mut ws, &room).await?;
                ingest::fill(
                    ws,
                    Arc::new(room),
                    index,
                    messages,
                    window,
                    size,
                    progress.clone(),
                )
                .await
                .with_context(|| {
                    format!(
                        "filling room {index} (if it expired first, raise --fill-ttl above \
                             {ttl} s or lower --fill-conns)"
                    )
                })?;
            }
        }));
    }
    let mut result = Ok(());
    for worker in workers {
        if let Err(err) = worker.await? {
            result = result.and(Err(err));
        }
    }
    reporter.abort();
    result?;
    let last = *last_created.lock().unwrap_or_else(|p| p.into_inner());
    Ok(last)
}

/// Runs `confab sweep` against the started server and times it.
async fn run_sweep(target: &Target, max_seconds: f64) -> anyhow::Result<Sweep> {
    let mut command = target
        .admin_command(&["sweep"])
        .context("no started server")?;
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs_f64(max_seconds),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .context("the sweep took longer than --max-sweep-seconds")???;
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
    anyhow::ensure!(
        output.status.success(),
        "confab sweep failed: {answer} {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let swept = answer
        .strip_prefix("swept ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok());
    Ok(Sweep {
        took,
        answer,
        swept,
    })
}
