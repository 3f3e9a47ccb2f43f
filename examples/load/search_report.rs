//! The `search` scenario's report: each phase's numbers, then the bars, each with the
//! number it was judged on (`bars` in the JSON line).

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::report::{self, round1, Report};
use crate::search::{Args, FanoutPhase, Outcome};
use crate::search_watch::LAG_METRIC;

/// The bars.
const INGEST_PER_SEC: f64 = 20_000.0;
const SEARCHABLE_P99_MS: f64 = 1000.0;
const LAG_MAX_S: f64 = 2.0;
const SEARCH_P99_MS: f64 = 50.0;
const FANOUT_P99_RATIO: f64 = 1.10;
const REINDEX_S_PER_MILLION: f64 = 60.0;

/// The report of a whole run.
pub fn build(args: &Args, outcome: &Outcome) -> Report {
    let mut report = Report::new("search", title(args, outcome));
    report.field("rooms", args.rooms.into());
    report.field("messages", args.messages.into());
    report.field("ingest_rate", args.ingest_rate.into());
    report.field("searchers", args.searchers.into());
    report.field("search_rate", args.search_rate.into());
    seeding_into(&mut report, outcome);
    index_into(&mut report, outcome);
    if let Some(searches) = &outcome.searches {
        searches.report_into(&mut report, "search", "search");
    }
    reindex_into(&mut report, outcome);
    fanout_into(&mut report, outcome);
    bars_into(&mut report, outcome);
    report
}

fn title(args: &Args, outcome: &Outcome) -> String {
    let ingest = args
        .ingest_rate
        .map_or("as fast as acknowledged".into(), |r| {
            format!("at {r} msg/s")
        });
    let searchers = format!(
        "{} searchers ({})",
        args.searchers,
        args.search_rate
            .map_or("closed loop".into(), |r| format!("{r} searches/s in all"))
    );
    let mut title = format!(
        "search: {} messages seeded {ingest} into {} rooms ({}-word vocabulary, Zipf s={})",
        args.messages, args.rooms, args.vocabulary, args.zipf
    );
    if outcome.searches.is_some() {
        title.push_str(&format!("; {searchers} for {} s", args.seconds));
    }
    if outcome.reindex.is_some() {
        title.push_str("; full reindex");
    }
    if outcome.fanout.is_some() {
        title.push_str(&format!(
            "; fan-out {} rooms x {} members at {} msg/s for {} s, alone then with the {searchers}",
            args.fanout_rooms, args.fanout_members, args.fanout_rate, args.fanout_seconds
        ));
    }
    title
}

/// Acknowledged messages per second of the seeding.
fn ingest_per_sec(outcome: &Outcome) -> f64 {
    let seeded = &outcome.seeded;
    round1(seeded.acked as f64 / seeded.elapsed.as_secs_f64().max(1e-9))
}

/// Messages in the store after the seeding: the seeded ones and the probes.
fn stored(outcome: &Outcome) -> u64 {
    outcome.seeded.acked + outcome.seeded.probes.sent
}

fn seeding_into(report: &mut Report, outcome: &Outcome) {
    let seeded = &outcome.seeded;
    report.both("messages acknowledged", "acked", seeded.acked);
    report.both("sends refused", "refused", seeded.refused);
    if let Some(code) = &seeded.first_refusal {
        report.both("first refusal", "first_refusal", code.as_str());
    }
    report.both(
        "seed time, first send -> last ack (s)",
        "seed_s",
        round1(seeded.elapsed.as_secs_f64()),
    );
    report.both(
        "ingest: acknowledged messages/s",
        "ingest_per_sec",
        ingest_per_sec(outcome),
    );
    let pct = |cpu: Duration| round1(cpu.as_secs_f64() / seeded.cpu.over.as_secs_f64() * 100.0);
    if let Some(cpu) = seeded.cpu.server {
        report.both(
            "server CPU while seeding (% of one core)",
            "seed_server_cpu_pct",
            pct(cpu),
        );
    }
    if let Some(cpu) = seeded.cpu.client {
        report.both(
            "load tool CPU while seeding (% of one core)",
            "seed_client_cpu_pct",
            pct(cpu),
        );
    }
    report::latency(
        report,
        "seed_ack",
        "seed ack latency (send -> durable ack)",
        &seeded.ack_latency,
    );
    let lag = Quantiles::of(&seeded.lag);
    report.row(
        &format!("{LAG_METRIC} while seeding"),
        format!(
            "p50 {:.3}  p99 {:.3}  max {:.3} s  (n={}, {} scrapes failed)",
            lag.p50,
            lag.p99,
            lag.max,
            seeded.lag.len(),
            seeded.lag_missing
        ),
    );
    report.field("lag_p50_s", lag.p50.into());
    report.field("lag_p99_s", lag.p99.into());
    report.field("lag_max_s", lag.max.into());
    report.field("lag_samples", seeded.lag.len().into());
    let probes = &seeded.probes;
    report.row(
        "probes: sent (the last after the seeding) / refused / never found (60 s)",
        format!(
            "{} / {} / {}",
            probes.sent, probes.refused, probes.not_found
        ),
    );
    report.field("probes_sent", probes.sent.into());
    report.field("probes_refused", probes.refused.into());
    report.field("probes_not_found", probes.not_found.into());
    report::latency(
        report,
        "searchable",
        "probe ack -> searchable (polled every 20 ms)",
        &probes.searchable,
    );
    report.row(
        "probe searches not answered 200",
        statuses(&probes.statuses, probes.no_answer),
    );
    report.field("probe_search_statuses", status_map(&probes.statuses).into());
    let drained = probes.drained.map(|d| round1(d.as_secs_f64()));
    report.row(
        "last ack -> everything searchable (s)",
        drained.map_or("no".into(), |d| d.to_string()),
    );
    report.field("drain_s", drained.into());
    let lag_zero = outcome.lag_zero.map(|d| round1(d.as_secs_f64()));
    report.row(
        &format!("then until {LAG_METRIC} reads 0 (s)"),
        lag_zero.map_or("not within 60 s".into(), |d| d.to_string()),
    );
    report.field("lag_zero_s", lag_zero.into());
    if let Some(rss) = outcome.rss_seeded {
        report.both(
            "server RSS once the index caught up (MiB)",
            "server_rss_mib",
            round1(rss as f64 / 1048576.0),
        );
    }
}

fn index_into(report: &mut Report, outcome: &Outcome) {
    let Some(size) = &outcome.size else {
        report.row("search index on disk", "n/a (--url server)");
        return;
    };
    let mib = |bytes: u64| round1(bytes as f64 / 1048576.0);
    report.row(
        "search index on disk",
        format!("{} MiB ({} bytes)", mib(size.bytes), size.bytes),
    );
    report.field("index_mib", mib(size.bytes).into());
    report.field("index_bytes", size.bytes.into());
    let per_million = (size.bytes as f64 / (stored(outcome).max(1) as f64 / 1e6)) as u64;
    report.row(
        "search index per million messages",
        format!("{} MiB ({per_million} bytes)", mib(per_million)),
    );
    report.field("index_mib_per_million", mib(per_million).into());
    report.field("index_bytes_per_million", per_million.into());
    report.row(
        "search index files / segments",
        format!("{} / {}", size.files, size.segments),
    );
    report.field("index_segments", size.segments.into());
    report.both(
        "rest of the data directory (MiB)",
        "data_other_mib",
        mib(size.other_bytes),
    );
}

/// Messages the reindex rebuilt per second of its wall time.
fn reindex_rate(outcome: &Outcome) -> Option<f64> {
    let reindex = outcome.reindex.as_ref()?;
    let messages = reindex.messages.unwrap_or(stored(outcome));
    Some(messages as f64 / reindex.took.as_secs_f64().max(1e-9))
}

fn reindex_into(report: &mut Report, outcome: &Outcome) {
    let Some(reindex) = &outcome.reindex else {
        return;
    };
    report.row("`confab search reindex` answered", &reindex.answer);
    report.field("reindex_messages", reindex.messages.into());
    report.both(
        "reindex wall time (s)",
        "reindex_s",
        round1(reindex.took.as_secs_f64()),
    );
    report.both(
        "reindex messages/s",
        "reindex_per_sec",
        round1(reindex_rate(outcome).unwrap_or(0.0)),
    );
}

/// The fan-out's p99 with searches over its p99 alone.
fn fanout_ratio(fanout: &FanoutPhase) -> f64 {
    fanout.with_search_p99_ms / fanout.baseline_p99_ms.max(1e-9)
}

fn fanout_into(report: &mut Report, outcome: &Outcome) {
    let Some(fanout) = &outcome.fanout else {
        return;
    };
    report.both(
        "fan-out alone: p99 (ms)",
        "fanout_baseline_p99_ms",
        fanout.baseline_p99_ms,
    );
    report.both(
        "fan-out with searches: p99 (ms)",
        "fanout_with_search_p99_ms",
        fanout.with_search_p99_ms,
    );
    report.both(
        "fan-out p99 with / without searches",
        "fanout_p99_ratio",
        (fanout_ratio(fanout) * 1000.0).round() / 1000.0,
    );
    report.row(
        "fan-out clean (no loss, duplicates, reordering, errors): alone / with searches",
        format!("{} / {}", fanout.clean.0, fanout.clean.1),
    );
    for (label, side) in [
        ("fan-out alone", &fanout.baseline),
        ("fan-out with searches", &fanout.with_search),
    ] {
        for key in ["latency_p50_ms", "deliveries_per_sec", "server_cpu_pct"] {
            if let Some(value) = side.value(key) {
                report.row(&format!("{label}: {key}"), value);
            }
        }
    }
    report.field("fanout_baseline", fanout.baseline.json());
    report.field("fanout_with_search", fanout.with_search.json());
    fanout
        .searches
        .report_into(report, "search_during_fanout", "search during fan-out");
}

/// The bars that this run measured, each as a row (`bar: ...`: met or NOT met, and the
/// number judged) and in the JSON object `bars`.
fn bars_into(report: &mut Report, outcome: &Outcome) {
    let mut bars = Map::new();
    let mut bar = |report: &mut Report, key: &str, label: &str, met: bool, on: String| {
        report.row(
            &format!("bar: {label}"),
            format!("{} ({on})", if met { "met" } else { "NOT met" }),
        );
        bars.insert(key.into(), json!(met));
    };
    let ingest = ingest_per_sec(outcome);
    bar(
        report,
        "ingest_20000",
        "20,000 durable messages/s",
        ingest >= INGEST_PER_SEC,
        format!("{ingest} msg/s"),
    );
    let probes = &outcome.seeded.probes;
    let searchable_p99 = probes.searchable.value_at_quantile(0.99) as f64 / 1000.0;
    bar(
        report,
        "searchable_1s",
        "searchable within 1 s of the ack (p99, every probe found)",
        searchable_p99 < SEARCHABLE_P99_MS
            && probes.not_found == 0
            && !probes.searchable.is_empty(),
        format!(
            "p99 {searchable_p99:.0} ms, {} never found",
            probes.not_found
        ),
    );
    let lag = Quantiles::of(&outcome.seeded.lag);
    bar(
        report,
        "lag_2s",
        "search lag under 2 s (max while seeding)",
        lag.max < LAG_MAX_S && !outcome.seeded.lag.is_empty(),
        format!("max {:.3} s", lag.max),
    );
    if let Some(rate) = reindex_rate(outcome) {
        let per_million = 1e6 / rate.max(1e-9);
        bar(
            report,
            "reindex_60s_per_million",
            "reindex 1M messages under 60 s",
            per_million < REINDEX_S_PER_MILLION,
            format!("{per_million:.1} s per million at {rate:.0} msg/s"),
        );
    }
    if let Some(fanout) = &outcome.fanout {
        let p99 = fanout.searches.p99_ms();
        bar(
            report,
            "search_p99_50ms_during_fanout",
            "search p99 under 50 ms while the fan-out runs",
            p99 < SEARCH_P99_MS,
            format!("p99 {p99:.1} ms"),
        );
        let ratio = fanout_ratio(fanout);
        bar(
            report,
            "fanout_p99_within_10pct",
            "fan-out p99 within 10 % of its value without search",
            ratio <= FANOUT_P99_RATIO,
            format!(
                "{:.1} vs {:.1} ms, x{ratio:.3}",
                fanout.with_search_p99_ms, fanout.baseline_p99_ms
            ),
        );
    }
    let too_many: u64 = outcome
        .searches
        .iter()
        .chain(outcome.fanout.iter().map(|f| &f.searches))
        .map(|s| s.statuses.get(&429).copied().unwrap_or(0))
        .sum::<u64>()
        + probes.statuses.get(&429).copied().unwrap_or(0);
    bar(
        report,
        "no_429",
        "no search answered 429",
        too_many == 0,
        format!("{too_many} answered 429"),
    );
    report.field("bars", Value::Object(bars));
}

/// p50, p99 and max of a few thousand samples, exactly.
struct Quantiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Quantiles {
    fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
            sorted.get(rank - 1).copied().unwrap_or(0.0)
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            max: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// `200: 5, 503: 1, no answer: 2`, or `none`.
pub fn statuses(by_status: &std::collections::BTreeMap<u16, u64>, no_answer: u64) -> String {
    let mut parts: Vec<String> = by_status
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    if no_answer > 0 {
        parts.push(format!("no answer: {no_answer}"));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// `{"503": 1}` for the JSON line.
pub fn status_map(by_status: &std::collections::BTreeMap<u16, u64>) -> Map<String, Value> {
    by_status
        .iter()
        .map(|(status, count)| (status.to_string(), json!(count)))
        .collect()
}
