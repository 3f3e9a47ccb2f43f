//! `login-flood`: chat latency while clients hammer `POST /api/auth/login` with wrong passwords.
//! One fan-out step runs throughout; its first `--baseline-seconds` are the baseline, then C
//! clients loop on failed logins (each waits for its answer, then asks again at once) until the
//! step ends. Chat latency is split by send time into the two phases, and every login answer is
//! counted by status.
//!
//! Every failed login costs an argon2id verification (~20 ms of a core, 19 MiB) unless the login
//! throttle refuses it first (429). By default the started server's throttle is raised out of
//! reach (`CONFAB_AUTH__LOGIN_MAX_FAILURES`), so every attempt reaches the hasher: the worst case,
//! bounded only by `auth.hash_concurrency` and the 503s of a full `auth.hash_queue`.
//! `--keep-throttle` keeps the server's defaults (10 failures per address and per username per
//! 15 minutes), and `--flood-sources N` spreads the clients over N loopback addresses, to see
//! what the throttle alone does.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client;
use crate::mesh::{Mesh, MeshArgs, StepPlan};
use crate::report::{self, histogram, round1, Report};
use crate::server::Target;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub mesh: MeshArgs,
    /// Aggregate chat messages per second over all rooms and senders.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Chat without the flood first, for comparison.
    #[arg(long, default_value_t = 10.0)]
    pub baseline_seconds: f64,
    /// Chat with the flood.
    #[arg(long, default_value_t = 20.0)]
    pub flood_seconds: f64,
    /// Concurrent login clients, each one request at a time.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Loopback source addresses the login clients are spread over (127.0.0.2, ...); 1: all
    /// from 127.0.0.1.
    #[arg(long, default_value_t = 1)]
    pub flood_sources: usize,
    /// Keep the server's login throttle (do not raise `auth.login_max_failures`).
    #[arg(long)]
    pub keep_throttle: bool,
    /// `RUST_LOG` of the started server. Its access log (one info line per request, thousands
    /// a second here) would bury the report and is off by default; a filter that lets info
    /// through (`info`, `debug`) also turns the access log on, to show (and cost) those lines.
    #[arg(long, default_value = "error")]
    pub server_log: String,
    #[arg(long, default_value_t = 10.0)]
    pub drain_seconds: f64,
}

impl Args {
    /// The started server's settings: the throttle out of reach unless `--keep-throttle`, its
    /// log level, and its access log when that level would show it.
    pub fn server_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("RUST_LOG".to_string(), self.server_log.clone())];
        if shows_info(&self.server_log) {
            env.push(("CONFAB_LOG__ACCESS".into(), "true".into()));
        }
        if !self.keep_throttle {
            env.push((
                "CONFAB_AUTH__LOGIN_MAX_FAILURES".into(),
                "1000000000".into(),
            ));
        }
        env
    }
}

/// Whether the tracing filter `filter` lets info lines through for some target: then the
/// access log is wanted too (the tool starts servers with it off).
fn shows_info(filter: &str) -> bool {
    use tracing_subscriber::filter::LevelFilter;
    tracing_subscriber::EnvFilter::try_new(filter)
        .ok()
        .and_then(|filter| filter.max_level_hint())
        .is_some_and(|level| level >= LevelFilter::INFO)
}

/// What one login client saw.
struct Answers {
    by_status: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connection refused or reset, timeout).
    failed: u64,
    latency: hdrhistogram::Histogram<u64>,
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    let (mut mesh, users) = Mesh::setup(target, &args.mesh, 2).await?;
    let phases = mesh.phases();
    let stop_sending = CancellationToken::new();
    let plan = StepPlan {
        rate: args.rate,
        // The controller below ends the step; this is only a backstop.
        seconds: args.baseline_seconds + args.flood_seconds + 60.0,
        stop: stop_sending.clone(),
        drain: Duration::from_secs_f64(args.drain_seconds),
    };
    let names: Arc<Vec<String>> = Arc::new(users.iter().map(|u| u.name.clone()).collect());
    let controller = async {
        // The step's first send is 100 ms after it starts.
        tokio::time::sleep(Duration::from_secs_f64(args.baseline_seconds + 0.1)).await;
        eprintln!(
            "login-flood: baseline done; {} login clients for {} s",
            args.clients, args.flood_seconds
        );
        phases.mark(1);
        let started = Instant::now();
        let stop_flood = CancellationToken::new();
        let mut clients = Vec::with_capacity(args.clients);
        for index in 0..args.clients {
            let source = client::source_for(index, args.flood_sources);
            let name = names[index % names.len()].clone();
            let (base, stop) = (target.base.clone(), stop_flood.clone());
            clients.push(tokio::spawn(login_loop(base, source, name, index, stop)));
        }
        tokio::time::sleep(Duration::from_secs_f64(args.flood_seconds)).await;
        stop_flood.cancel();
        stop_sending.cancel();
        let flood_time = started.elapsed();
        let mut answers = Vec::with_capacity(clients.len());
        for client in clients {
            answers.push(client.await?);
        }
        anyhow::Ok((answers, flood_time))
    };
    let (step, flood) = tokio::join!(mesh.step(target, &plan), controller);
    let setup = mesh.summary();
    mesh.close().await;
    let (step, (answers, flood_time)) = (step?, flood?);

    let mut report =
        Report::new(
            "login-flood",
            format!(
            "login-flood: chat {} at {} msg/s; {} s baseline, then {} clients looping on wrong \
             passwords for {} s (throttle {}, {} source address(es))",
            args.mesh.describe(),
            args.rate,
            args.baseline_seconds,
            args.clients,
            args.flood_seconds,
            if args.keep_throttle { "as configured" } else { "raised" },
            args.flood_sources.max(1)
        ),
        );
    args.mesh.report_into(&mut report);
    report.field("rate", args.rate.into());
    report.field("clients", args.clients.into());
    report.field("throttle_raised", (!args.keep_throttle).into());
    setup.report_into(&mut report);
    report::latency(
        &mut report,
        "baseline",
        "chat latency, baseline (no flood)",
        &step.latency[0],
    );
    report::latency(
        &mut report,
        "flood",
        "chat latency during the flood",
        &step.latency[1],
    );
    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut failed = 0u64;
    let mut login_latency = histogram();
    for answer in &answers {
        for (status, count) in &answer.by_status {
            *by_status.entry(*status).or_default() += count;
        }
        failed += answer.failed;
        login_latency.add(&answer.latency).expect("same bounds");
    }
    let total: u64 = by_status.values().sum::<u64>() + failed;
    let text: Vec<String> = by_status
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .chain((failed > 0).then(|| format!("no answer: {failed}")))
        .collect();
    report.row("login answers by status", text.join(", "));
    report.field(
        "logins_by_status",
        by_status
            .iter()
            .map(|(status, count)| (status.to_string(), json!(count)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    );
    report.field("logins_no_answer", failed.into());
    report.both(
        "login answers/s",
        "logins_per_sec",
        round1(total as f64 / flood_time.as_secs_f64()),
    );
    report::latency(
        &mut report,
        "login",
        "login answer time (any status)",
        &login_latency,
    );
    step.report_into(&mut report);
    Ok(report)
}

/// One flooding client: a login with a wrong password, the answer, again, until `stop`.
async fn login_loop(
    base: String,
    source: Option<IpAddr>,
    name: String,
    index: usize,
    stop: CancellationToken,
) -> Answers {
    let mut answers = Answers {
        by_status: BTreeMap::new(),
        failed: 0,
        latency: histogram(),
    };
    let http = match reqwest::Client::builder()
        .local_address(source)
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(http) => http,
        Err(_) => {
            answers.failed += 1;
            return answers;
        }
    };
    let url = format!("{base}/api/auth/login");
    let mut attempt = 0u64;
    while !stop.is_cancelled() {
        attempt += 1;
        let body = json!({"username": name, "password": format!("wrong-{index}-{attempt}")});
        let sent = Instant::now();
        let request = http.post(&url).json(&body).send();
        let response = tokio::select! {
            () = stop.cancelled() => break,
            response = request => response,
        };
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body, so the connection is reused.
                let _ = response.bytes().await;
                *answers.by_status.entry(status).or_default() += 1;
                answers
                    .latency
                    .saturating_record(sent.elapsed().as_micros().max(1) as u64);
            }
            Err(_) => {
                answers.failed += 1;
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    answers
}
