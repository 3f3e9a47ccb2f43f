//! Results: a table for people and one JSON line for scripts, plus HDR latency histograms.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Latencies are recorded in microseconds, up to 10 minutes, with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Histograms split in shards so that thousands of tasks can record without contending.
pub struct Sharded {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Sharded {
    pub fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards).map(|_| Mutex::new(histogram())).collect(),
        }
    }

    pub fn record(&self, shard: usize, latency: Duration) {
        let micros = latency.as_micros().max(1) as u64;
        let mut histogram = self.shards[shard % self.shards.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        histogram.saturating_record(micros);
    }

    /// Empties every shard (a new step of a scenario starts counting afresh).
    pub fn reset(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|p| p.into_inner()).reset();
        }
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            all.add(&*shard).expect("same bounds");
        }
        all
    }
}

/// p50/p99/p99.9/max in milliseconds, as table rows and JSON fields named `{prefix}_p50_ms`...
pub fn latency(report: &mut Report, prefix: &str, label: &str, h: &Histogram<u64>) {
    let ms = |micros: u64| micros as f64 / 1000.0;
    let fields = [
        ("p50", ms(h.value_at_quantile(0.50))),
        ("p99", ms(h.value_at_quantile(0.99))),
        ("p999", ms(h.value_at_quantile(0.999))),
        ("max", ms(h.max())),
    ];
    let text = format!(
        "p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms  (n={})",
        fields[0].1,
        fields[1].1,
        fields[2].1,
        fields[3].1,
        h.len()
    );
    report.row(label, text);
    for (name, value) in fields {
        report.field(
            &format!("{prefix}_{name}_ms"),
            json!((value * 1000.0).round() / 1000.0),
        );
    }
}

pub struct Report {
    title: String,
    rows: Vec<(String, String)>,
    json: Map<String, Value>,
}

impl Report {
    pub fn new(scenario: &str, title: String) -> Self {
        let mut json = Map::new();
        json.insert("scenario".into(), json!(scenario));
        Self {
            title,
            rows: Vec::new(),
            json,
        }
    }

    pub fn row(&mut self, label: &str, value: impl std::fmt::Display) {
        self.rows.push((label.to_string(), value.to_string()));
    }

    pub fn field(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_string(), value);
    }

    /// A row and a JSON field with the same value.
    pub fn both(&mut self, label: &str, key: &str, value: impl Into<Value> + std::fmt::Display) {
        self.row(label, &value);
        self.field(key, value.into());
    }

    /// The server's and this tool's CPU use over `elapsed`, as % of one core.
    pub fn cpu(&mut self, server: Option<Duration>, client: Option<Duration>, elapsed: Duration) {
        let pct =
            |cpu: Duration| (cpu.as_secs_f64() / elapsed.as_secs_f64() * 1000.0).round() / 10.0;
        if let Some(server) = server {
            self.both("server CPU (% of one core)", "server_cpu_pct", pct(server));
        }
        if let Some(client) = client {
            self.both(
                "load tool CPU (% of one core)",
                "client_cpu_pct",
                pct(client),
            );
        }
    }

    /// A JSON field set so far.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.json.get(key)
    }

    /// The whole JSON line, for a scenario that reports others' results inside its own.
    pub fn json(&self) -> Value {
        Value::Object(self.json.clone())
    }

    pub fn print(&self) {
        println!("{}", self.title);
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (label, value) in &self.rows {
            println!("  {label:<width$}  {value}");
        }
        println!("{}", Value::Object(self.json.clone()));
    }
}

/// Rounds to 1 decimal for display and JSON.
pub fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Prints `scenario: filled N of TOTAL in S s (R/s)` every 10 s from `progress` until aborted.
pub fn spawn_fill_progress(
    scenario: &'static str,
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
    total: u64,
) -> tokio::task::JoinHandle<()> {
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let done = progress.load(std::sync::atomic::Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{scenario}: filled {done} of {total} in {secs:.0} s ({:.0}/s)",
                done as f64 / secs
            );
        }
    })
}
