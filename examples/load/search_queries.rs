//! The `search` scenario's searchers: closed-loop clients, each its own user, asking
//! `GET /api/search` one query at a time (the next as soon as the answer is read, or with
//! `--search-rate` when its turn in the schedule comes), the kinds of `search_text::QueryKind`
//! in turn. Each answer is timed from sending the request to its last
//! byte, by kind, and counted by status, with the 200s that say `"truncated": true` and those
//! with no hit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::client::{Api, User};
use crate::history::XorShift;
use crate::report::{self, histogram, round1, Report};
use crate::search_report;
use crate::search_text::{Queries, QueryKind};
use crate::search_watch::contains;

/// What the searchers saw over one run.
pub struct SearchLoad {
    /// Per kind, in `QueryKind::ALL` order: latency of every answer (any status).
    pub latency: Vec<Histogram<u64>>,
    /// Per kind: 200 answers without a hit.
    pub empty: Vec<u64>,
    pub statuses: BTreeMap<u16, u64>,
    /// Requests with no HTTP answer.
    pub no_answer: u64,
    pub truncated: u64,
    /// From the start to the last answer.
    pub elapsed: Duration,
}

impl SearchLoad {
    fn new() -> Self {
        Self {
            latency: QueryKind::ALL.iter().map(|_| histogram()).collect(),
            empty: vec![0; QueryKind::ALL.len()],
            statuses: BTreeMap::new(),
            no_answer: 0,
            truncated: 0,
            elapsed: Duration::ZERO,
        }
    }

    fn merge(&mut self, other: SearchLoad) {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            mine.add(theirs).expect("same bounds");
        }
        for (mine, theirs) in self.empty.iter_mut().zip(&other.empty) {
            *mine += theirs;
        }
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.no_answer += other.no_answer;
        self.truncated += other.truncated;
    }

    pub fn all(&self) -> Histogram<u64> {
        let mut all = histogram();
        for kind in &self.latency {
            all.add(kind).expect("same bounds");
        }
        all
    }

    pub fn answers(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Overall p99 in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        self.all().value_at_quantile(0.99) as f64 / 1000.0
    }

    /// Rows and JSON fields named `{prefix}_...`, labels starting with `label`.
    pub fn report_into(&self, report: &mut Report, prefix: &str, label: &str) {
        report.both(
            &format!("{label}: searches/s"),
            &format!("{prefix}_per_sec"),
            round1(self.answers() as f64 / self.elapsed.as_secs_f64().max(1e-9)),
        );
        report::latency(
            report,
            &format!("{prefix}_all"),
            &format!("{label}: latency, all kinds"),
            &self.all(),
        );
        for (kind, latency) in QueryKind::ALL.iter().zip(&self.latency) {
            report::latency(
                report,
                &format!("{prefix}_{}", kind.key()),
                &format!("{label}: latency, {}", kind.label()),
                latency,
            );
        }
        report.row(
            &format!("{label}: answers by status"),
            search_report::statuses(&self.statuses, self.no_answer),
        );
        report.field(
            &format!("{prefix}_by_status"),
            search_report::status_map(&self.statuses).into(),
        );
        report.field(&format!("{prefix}_no_answer"), self.no_answer.into());
        report.both(
            &format!("{label}: answers with \"truncated\": true"),
            &format!("{prefix}_truncated"),
            self.truncated,
        );
        let empty: Vec<String> = QueryKind::ALL
            .iter()
            .zip(&self.empty)
            .map(|(kind, count)| format!("{} {count}", kind.key()))
            .collect();
        report.row(
            &format!("{label}: 200 answers without a hit"),
            empty.join(", "),
        );
        for (kind, count) in QueryKind::ALL.iter().zip(&self.empty) {
            report.field(&format!("{prefix}_{}_empty", kind.key()), (*count).into());
        }
    }
}

/// Runs one searcher per user for `duration`: closed loop, or together `rate` searches/s.
pub async fn run(
    api: &Api,
    users: &[User],
    queries: Arc<Queries>,
    duration: Duration,
    rate: Option<f64>,
) -> anyhow::Result<SearchLoad> {
    let started = Instant::now();
    let end = started + duration;
    let period = rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(users.len() as f64 / r));
    let mut tasks = Vec::with_capacity(users.len());
    for (index, user) in users.iter().enumerate() {
        let (api, user, queries) = (api.clone(), user.clone(), queries.clone());
        // Spread the searchers' schedules evenly over one period.
        let schedule = period.map(|p| (started + p.mul_f64(index as f64 / users.len() as f64), p));
        tasks.push(tokio::spawn(searcher(
            api, user, index, queries, end, schedule,
        )));
    }
    let mut load = SearchLoad::new();
    for task in tasks {
        load.merge(task.await?);
    }
    load.elapsed = started.elapsed();
    Ok(load)
}

async fn searcher(
    api: Api,
    user: User,
    index: usize,
    queries: Arc<Queries>,
    end: Instant,
    mut schedule: Option<(Instant, Duration)>,
) -> SearchLoad {
    let mut load = SearchLoad::new();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9));
    let url = format!("{}/api/search", api.base);
    let mut turn = index;
    while Instant::now() < end {
        if let Some((due, period)) = &mut schedule {
            if *due >= end {
                break;
            }
            tokio::time::sleep_until(*due).await;
            *due += *period;
        }
        turn += 1;
        let slot = turn % QueryKind::ALL.len();
        let query = queries.make(QueryKind::ALL[slot], &mut rng);
        let sent = Instant::now();
        let answer = api
            .http
            .get(&url)
            .query(&[("q", query.as_str())])
            .bearer_auth(&user.token)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(_) => {
                load.no_answer += 1;
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let Ok(body) = response.bytes().await else {
            load.no_answer += 1;
            continue;
        };
        load.latency[slot].saturating_record(sent.elapsed().as_micros().max(1) as u64);
        *load.statuses.entry(status).or_default() += 1;
        if status == 200 {
            if contains(&body, b"\"truncated\":true") {
                load.truncated += 1;
            }
            if contains(&body, b"\"hits\":[]") {
                load.empty[slot] += 1;
            }
        }
    }
    load
}
