//! `search`: full-text search under load (issue 14's bars), in five phases on one server:
//!
//! 1. **Seeding**: `--rooms` public rooms get `--messages` chat messages (`search_text.rs`: 5-20
//!    words each, Zipf-distributed) over WebSocket with acknowledgements, as fast as the server
//!    takes them or at `--ingest-rate`; meanwhile the search lag gauge is sampled and probe
//!    messages time ack-to-searchable (`search_seed.rs`). Then the time until everything seeded
//!    is searchable and the lag gauge reads 0.
//! 2. **Index size**: `<data>/search` on disk once the index has caught up (and its files have
//!    stopped changing, or 30 s), in bytes and per million messages.
//! 3. **Search latency**: `--searchers` closed-loop searchers for `--seconds`, each its own user,
//!    asking one common word, one rare word, two words and a `"phrase"` in turn, the rare words,
//!    pairs and phrases taken from seeded messages (`search_queries.rs`).
//! 4. **Full reindex**: `confab search reindex` (the started binary, through the server's control
//!    socket), timed. It runs before the fan-out so that it rebuilds the seeded messages only.
//! 5. **Search during fan-out**: the `fanout` scenario's mesh (100 rooms x 100 members, 1 sender
//!    per room, 1,000 msg/s, 10 rooms per user by default) runs one step alone, then one step
//!    with the searchers running: both fan-out p99s, their ratio, and the searches' latency.
//!
//! `--skip-search`, `--skip-reindex` and `--skip-fanout` leave phases 3-5 out. The started server
//! gets search rate limits out of reach (`CONFAB_SEARCH__PER_MINUTE`, `CONFAB_SEARCH__BURST`),
//! so no search is answered 429; a `--url` server needs the same, and has no data directory
//! here: phases 2 and 4 are skipped for it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::time::Instant;

use crate::client::Api;
use crate::fanout;
use crate::mesh::{Mesh, MeshArgs, StepPlan};
use crate::report::Report;
use crate::search_queries::{self, SearchLoad};
use crate::search_report;
use crate::search_seed::{self, SeedPlan, Seeded};
use crate::search_text::{Queries, Vocabulary};
use crate::search_watch::LAG_METRIC;
use crate::server::Target;

/// The index's folder in the data directory (docs/search.md, "The index").
const INDEX_DIR: &str = "search";

/// Seeded messages each seeding connection keeps for the queries (a uniform sample).
const SAMPLES_PER_CONNECTION: usize = 256;

#[derive(clap::Args)]
pub struct Args {
    /// Rooms the seeded messages are spread over (public, so every searcher reads them all).
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Messages to seed.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Aggregate seeding rate in messages/s (the load is 20000); unset: as fast as the
    /// server acknowledges them.
    #[arg(long)]
    pub ingest_rate: Option<f64>,
    /// Seeding connections, each its own user joined to its share of the rooms.
    #[arg(long, default_value_t = 16)]
    pub seed_conns: usize,
    /// Unacknowledged sends per seeding connection (below `limits.outbound_queue`).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Words in the vocabulary.
    #[arg(long, default_value_t = 20_000)]
    pub vocabulary: usize,
    /// Zipf exponent: the word of rank k is drawn about 1/k^s as often as the most common.
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// The most frequent words the "common word" queries pick from.
    #[arg(long, default_value_t = 20)]
    pub common_words: usize,
    /// Seconds between probe messages while seeding.
    #[arg(long, default_value_t = 1.0)]
    pub probe_interval: f64,
    /// After the seeding, how long the index may take to catch up before the run fails.
    #[arg(long, default_value_t = 600.0)]
    pub drain_timeout: f64,
    /// Concurrent closed-loop searchers, each its own user.
    #[arg(long, default_value_t = 8)]
    pub searchers: usize,
    /// Searches per second of all searchers together, each keeping to its share of the
    /// schedule (a late one asks at once); unset: closed loop, each asking again as soon as it
    /// has its answer. Applies to the search phase and to the searches during the fan-out.
    #[arg(long)]
    pub search_rate: Option<f64>,
    /// Duration of the search phase.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// Rooms of the fan-out mesh.
    #[arg(long, default_value_t = 100)]
    pub fanout_rooms: usize,
    /// Members of each fan-out room (one of them sends).
    #[arg(long, default_value_t = 100)]
    pub fanout_members: usize,
    /// Aggregate fan-out messages per second.
    #[arg(long, default_value_t = 1000.0)]
    pub fanout_rate: f64,
    /// Duration of each fan-out step (alone, then with the searchers).
    #[arg(long, default_value_t = 30.0)]
    pub fanout_seconds: f64,
    /// Fan-out rooms per user, all on one connection (as in docs/performance.md's runs); 0: a
    /// connection per (room, member).
    #[arg(long, default_value_t = 10)]
    pub rooms_per_user: usize,
    /// After each fan-out step, how long deliveries may keep arriving.
    #[arg(long, default_value_t = 10.0)]
    pub fanout_drain_seconds: f64,
    /// Give up on a reindex that takes longer.
    #[arg(long, default_value_t = 1800.0)]
    pub max_reindex_seconds: f64,
    /// Leave out the search-latency phase (3).
    #[arg(long)]
    pub skip_search: bool,
    /// Leave out the full reindex (4).
    #[arg(long)]
    pub skip_reindex: bool,
    /// Leave out the fan-out steps (5).
    #[arg(long)]
    pub skip_fanout: bool,
}

impl Args {
    /// Search rate limits out of reach: the searchers and the probes ask far more than a person.
    pub fn server_env(&self) -> Vec<(String, String)> {
        vec![
            ("CONFAB_SEARCH__PER_MINUTE".into(), "1000000000".into()),
            ("CONFAB_SEARCH__BURST".into(), "1000000".into()),
        ]
    }

    fn fanout(&self) -> fanout::Args {
        fanout::Args {
            mesh: MeshArgs {
                rooms: self.fanout_rooms,
                members: self.fanout_members,
                senders: 1,
                size: 64,
                users: 100,
                rooms_per_user: (self.rooms_per_user > 0).then_some(self.rooms_per_user),
                sources: 0,
                // As docs/performance.md's fan-out runs: the set-up's frames drain first.
                settle: true,
            },
            rate: self.fanout_rate,
            seconds: self.fanout_seconds,
            drain_seconds: self.fanout_drain_seconds,
        }
    }
}

/// Every phase's results, for the report (`search_report.rs`); None for a phase left out.
pub struct Outcome {
    pub seeded: Seeded,
    /// From the end of the seeding until the lag gauge read 0 (None: not within 60 s).
    pub lag_zero: Option<Duration>,
    pub size: Option<IndexSize>,
    /// The server's RSS once the index had caught up, in bytes.
    pub rss_seeded: Option<u64>,
    pub searches: Option<SearchLoad>,
    pub reindex: Option<Reindex>,
    pub fanout: Option<FanoutPhase>,
}

/// `<data>/search` once the index has caught up.
pub struct IndexSize {
    pub bytes: u64,
    pub files: u64,
    /// Segments (one `.idx` file each).
    pub segments: u64,
    /// The rest of the data directory: the database and its files.
    pub other_bytes: u64,
}

/// What `confab search reindex` did.
pub struct Reindex {
    pub took: Duration,
    pub answer: String,
    /// The N of "search index rebuilt: N messages in S s".
    pub messages: Option<u64>,
}

/// The two fan-out steps and the searches during the second.
pub struct FanoutPhase {
    pub baseline: Report,
    pub with_search: Report,
    pub baseline_p99_ms: f64,
    pub with_search_p99_ms: f64,
    pub clean: (bool, bool),
    pub searches: SearchLoad,
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    ensure!(
        args.rooms >= 1 && args.messages >= 1,
        "need --rooms >= 1 and --messages >= 1"
    );
    ensure!(args.vocabulary >= 1, "need --vocabulary >= 1");
    ensure!(
        args.probe_interval > 0.0,
        "--probe-interval must be positive"
    );
    let searches_run = !(args.skip_search && args.skip_fanout);
    ensure!(
        args.searchers >= 1 || !searches_run,
        "need --searchers >= 1"
    );
    let api = Api::new(&target.base);
    let seed_conns = args.seed_conns.clamp(1, args.rooms);
    let users = api
        .register_users_concurrently(seed_conns + 1 + args.searchers, 8)
        .await?;
    let (seeders, rest) = users.split_at(seed_conns);
    let (prober, searchers) = (&rest[0], &rest[1..]);
    let rooms = api.create_rooms(&users[0], args.rooms).await?;
    eprintln!(
        "search: {} users, {} rooms; seeding {} messages over {seed_conns} connections ({})",
        users.len(),
        rooms.len(),
        args.messages,
        args.ingest_rate
            .map_or("as fast as acknowledged".into(), |r| format!("{r} msg/s"))
    );

    let vocabulary = Arc::new(Vocabulary::new(args.vocabulary, args.zipf));
    let plan = SeedPlan {
        messages: args.messages,
        connections: seed_conns,
        window: args.window,
        rate: args.ingest_rate,
        probe_every: Duration::from_secs_f64(args.probe_interval),
        drain_timeout: Duration::from_secs_f64(args.drain_timeout),
        keep: SAMPLES_PER_CONNECTION,
    };
    let mut seeded =
        search_seed::seed(target, &rooms, seeders, prober, vocabulary.clone(), &plan).await?;
    let drained = seeded.probes.drained.with_context(|| {
        format!(
            "the index did not catch up within --drain-timeout {} s of the seeding's end",
            args.drain_timeout
        )
    })?;
    eprintln!(
        "search: {} messages acknowledged in {:.1} s; searchable {:.1} s after the last",
        seeded.acked,
        seeded.elapsed.as_secs_f64(),
        drained.as_secs_f64()
    );
    let lag_zero = wait_lag_zero(target, Duration::from_secs(60)).await;

    let size = match target.data_dir() {
        Some(data) => Some(index_size(data).await?),
        None => None,
    };
    let rss_seeded = target.rss();
    let queries = Arc::new(Queries {
        vocabulary,
        samples: std::mem::take(&mut seeded.samples),
        common: args.common_words.max(1),
    });

    let searches = if args.skip_search {
        None
    } else {
        eprintln!(
            "search: {} searchers for {} s",
            searchers.len(),
            args.seconds
        );
        let duration = Duration::from_secs_f64(args.seconds);
        Some(
            search_queries::run(&api, searchers, queries.clone(), duration, args.search_rate)
                .await?,
        )
    };

    let reindex = if args.skip_reindex {
        None
    } else {
        reindex(target, args.max_reindex_seconds).await?
    };

    let fanout = if args.skip_fanout {
        None
    } else {
        Some(fanout_phase(target, args, &api, searchers, queries).await?)
    };

    let outcome = Outcome {
        seeded,
        lag_zero,
        size,
        rss_seeded,
        searches,
        reindex,
        fanout,
    };
    Ok(search_report::build(args, &outcome))
}

/// Waits until the lag gauge reads 0 (the indexer found nothing to do); returns how long that
/// took, or None after `limit`.
async fn wait_lag_zero(target: &Target, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if target.metric(LAG_METRIC).await == Some(0.0) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Measures `<data>/search` once its files stop changing (merges finish) for 2 s, or after 30 s.
async fn index_size(data: &Path) -> anyhow::Result<IndexSize> {
    let index = data.join(INDEX_DIR);
    let mut last = None;
    let mut steady = 0;
    for _ in 0..30 {
        let now = dir_size(&index).with_context(|| format!("reading {}", index.display()))?;
        if Some(now) == last {
            steady += 1;
            if steady == 2 {
                break;
            }
        } else {
            steady = 0;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (bytes, files, segments) = last.unwrap_or_default();
    let (all, _, _) = dir_size(data)?;
    Ok(IndexSize {
        bytes,
        files,
        segments,
        other_bytes: all.saturating_sub(bytes),
    })
}

/// Bytes, files and `.idx` files under `dir`, recursively.
fn dir_size(dir: &Path) -> std::io::Result<(u64, u64, u64)> {
    let (mut bytes, mut files, mut segments) = (0, 0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (b, f, s) = dir_size(&entry.path())?;
            (bytes, files, segments) = (bytes + b, files + f, segments + s);
        } else {
            bytes += meta.len();
            files += 1;
            if entry.path().extension().is_some_and(|e| e == "idx") {
                segments += 1;
            }
        }
    }
    Ok((bytes, files, segments))
}

/// Runs `confab search reindex` against the started server and times it (None for `--url`).
async fn reindex(target: &Target, max_seconds: f64) -> anyhow::Result<Option<Reindex>> {
    let Some(mut command) = target.admin_command(&["search", "reindex"]) else {
        return Ok(None);
    };
    eprintln!("search: confab search reindex");
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs_f64(max_seconds),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .context("the reindex took longer than --max-reindex-seconds")???;
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
    ensure!(
        output.status.success(),
        "confab search reindex failed: {answer} {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let messages = answer
        .strip_prefix("search index rebuilt: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok());
    eprintln!("search: {answer} ({:.1} s wall)", took.as_secs_f64());
    Ok(Some(Reindex {
        took,
        answer,
        messages,
    }))
}

/// The fan-out mesh of `fanout`: one step alone, then one with the searchers running.
async fn fanout_phase(
    target: &Target,
    args: &Args,
    api: &Api,
    searchers: &[crate::client::User],
    queries: Arc<Queries>,
) -> anyhow::Result<FanoutPhase> {
    let fanout = args.fanout();
    let (mut mesh, _) = Mesh::setup(target, &fanout.mesh, 1).await?;
    let plan = StepPlan::timed(fanout.rate, fanout.seconds, fanout.drain_seconds);
    eprintln!("search: fan-out alone for {} s", fanout.seconds);
    let baseline = mesh.step(target, &plan).await;
    let with_search = match &baseline {
        Ok(_) => {
            eprintln!(
                "search: fan-out with {} searchers for {} s",
                searchers.len(),
                fanout.seconds
            );
            // The step's first send is 100 ms after it starts.
            let duration = Duration::from_secs_f64(fanout.seconds + 0.1);
            let (step, searches) = tokio::join!(
                mesh.step(target, &plan),
                search_queries::run(api, searchers, queries, duration, args.search_rate)
            );
            Some((step, searches))
        }
        Err(_) => None,
    };
    let setup = mesh.summary();
    mesh.close().await;
    let baseline = baseline?;
    let (step, searches) = with_search.context("no second fan-out step")?;
    let (step, searches) = (step?, searches?);
    Ok(FanoutPhase {
        baseline_p99_ms: baseline.quantile_ms(0.99),
        with_search_p99_ms: step.quantile_ms(0.99),
        clean: (baseline.clean(), step.clean()),
        baseline: fanout::report(target, &fanout, &setup, &baseline),
        with_search: fanout::report(target, &fanout, &setup, &step),
        searches,
    })
}
