//! The server's metrics, exposed at `GET /metrics` in the OpenMetrics text format Prometheus
//! scrapes.
//!
//! One `Metrics` value per server, shared as an `Arc` (no global registry, so every test server
//! counts on its own). Recording is a relaxed atomic add, cheap enough for the hot paths that
//! call it (every delivery to every subscriber). Label values are all `&'static str` or small
//! numbers from fixed sets: nothing a client controls (a path, a room id, a user name) can
//! become a label and grow the series without bound.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The media type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request latency buckets, in seconds: from a cached asset (sub-millisecond) to a send waiting
/// on a slow fsync or an argon2 hash queued behind others.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The outcomes of an outgoing webhook call (the `status` a delivery gets).
pub const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "retrying", "failed"];

/// What became of a Web Push (`confab_push_sent_total{result}`): `sent` (accepted by the push
/// service), `retried` (429/5xx/no answer, tried again later), `gone` (404/410: the subscription
/// was removed), `failed` (given up or refused), `dropped` (the queue was full).
pub const PUSH_RESULTS: [&str; 5] = ["sent", "retried", "gone", "failed", "dropped"];

const BATCH_BUCKETS: [f64; 10] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0,
];

/// How a message reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Rest,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Rest => "rest",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every metric confab exports. Handles are cheap clones of shared atomics, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms_live: Gauge,
    messages_stored: Counter,
    messages_sent: Family<TransportLabels, Counter>,
    deliveries: Counter,
    lagged_disconnects: Counter,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: LatencyFamily,
    sweep_runs: Counter,
    rooms_swept: Counter,
    backup_last_success: Gauge,
    commit_duration: Histogram,
    commit_batch: Histogram,
    webhook_calls: Family<OutcomeLabels, Counter>,
    webhook_deliveries_queued: Counter,
    push_sent: Family<ResultLabels, Counter>,
    search_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    search_index_commit: Histogram,
    search_query: Histogram,
    search_truncated: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            connections: Gauge::default(),
            rooms_live: Gauge::default(),
            messages_stored: Counter::default(),
            messages_sent: Family::default(),
            deliveries: Counter::default(),
            lagged_disconnects: Counter::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            sweep_runs: Counter::default(),
            rooms_swept: Counter::default(),
            backup_last_success: Gauge::default(),
            commit_duration: Histogram::new(LATENCY_BUCKETS),
            commit_batch: Histogram::new(BATCH_BUCKETS),
            webhook_calls: Family::default(),
            webhook_deliveries_queued: Counter::default(),
            push_sent: Family::default(),
            search_lag: Gauge::default(),
            search_index_commit: Histogram::new(LATENCY_BUCKETS),
            search_query: Histogram::new(LATENCY_BUCKETS),
            search_truncated: Counter::default(),
        };
        for result in PUSH_RESULTS {
            metrics
                .push_sent
                .get_or_create_owned(&ResultLabels { result });
        }
        for outcome in WEBHOOK_OUTCOMES {
            metrics
                .webhook_calls
                .get_or_create_owned(&OutcomeLabels { outcome });
        }
        // Both transports show from the start, so a rate() over them never starts from nothing.
        for transport in [Transport::WebSocket, Transport::Rest] {
            metrics.messages_sent.get_or_create_owned(&TransportLabels {
                transport: transport.label(),
            });
        }
        metrics.register()
    }

    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "confab_build",
            "The running confab version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register(
            "confab_websocket_connections",
            "WebSocket connections open now",
            self.connections.clone(),
        );
        r.register(
            "confab_rooms_live",
            "Rooms not yet expired or deleted",
            self.rooms_live.clone(),
        );
        r.register(
            "confab_messages_stored",
            "Messages made durable (a retried send is stored once)",
            self.messages_stored.clone(),
        );
        r.register(
            "confab_messages_sent",
            "Sends acknowledged to their sender once durable, retries included, by transport",
            self.messages_sent.clone(),
        );
        r.register(
            "confab_deliveries",
            "Event frames handed to WebSocket connections' outbound queues",
            self.deliveries.clone(),
        );
        r.register(
            "confab_lagged_disconnects",
            "WebSocket connections cut off (4008) because their outbound queue was full",
            self.lagged_disconnects.clone(),
        );
        r.register(
            "confab_http_requests",
            "HTTP requests answered, by route template, method and status",
            self.http_requests.clone(),
        );
        r.register_with_unit(
            "confab_http_request_duration",
            "Time to answer an HTTP request (a WebSocket's until its upgrade), by route template and method",
            Unit::Seconds,
            self.http_duration.clone(),
        );
        r.register(
            "confab_sweep_runs",
            "Expiry sweeps completed (scheduled or from `confab sweep`)",
            self.sweep_runs.clone(),
        );
        r.register(
            "confab_rooms_swept",
            "Expired rooms deleted by the sweeper",
            self.rooms_swept.clone(),
        );
        r.register_with_unit(
            "confab_commit_duration",
            "Time to write and flush one group-commit batch (what every send waits for at least)",
            Unit::Seconds,
            self.commit_duration.clone(),
        );
        r.register(
            "confab_commit_batch_messages",
            "Messages written and flushed together by one group commit",
            self.commit_batch.clone(),
        );
        r.register(
            "confab_webhook_deliveries_queued",
            "Events queued for outgoing webhooks",
            self.webhook_deliveries_queued.clone(),
        );
        r.register(
            "confab_webhook_calls",
            "Outgoing webhook calls, by outcome: delivered, retrying (failed, tried again later), failed (given up)",
            self.webhook_calls.clone(),
        );
        r.register(
            "confab_push_sent",
            "Web Push requests, by result: sent, retried (429, 5xx or no answer; tried again), gone (404/410; subscription removed), failed (given up or refused), dropped (queue full)",
            self.push_sent.clone(),
        );
        r.register_with_unit(
            "confab_search_lag",
            "How long the oldest message change not yet searchable had waited, at the indexer's last pass",
            Unit::Seconds,
            self.search_lag.clone(),
        );
        r.register_with_unit(
            "confab_search_index_commit",
            "Time to index one batch of changed rooms and commit the search index",
            Unit::Seconds,
            self.search_index_commit.clone(),
        );
        r.register_with_unit(
            "confab_search_query",
            "Time to answer one search",
            Unit::Seconds,
            self.search_query.clone(),
        );
        r.register(
            "confab_search_truncated",
            "Searches cut short by search.time_budget (answered with what was found)",
            self.search_truncated.clone(),
        );
        r.register_with_unit(
            "confab_backup_last_success_timestamp",
            "Unix time of the last successful backup; 0 if none since the server started",
            Unit::Seconds,
            self.backup_last_success.clone(),
        );
        self
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    /// WebSocket connections open now: shutdown waits for this to reach zero.
    pub fn connections_open(&self) -> i64 {
        self.connections.get()
    }

    /// A fresh message became durable.
    pub fn message_stored(&self) {
        self.messages_stored.inc();
    }

    /// A send was acknowledged to its sender (a retried nonce included).
    pub fn message_sent(&self, transport: Transport) {
        self.messages_sent
            .get_or_create(&TransportLabels {
                transport: transport.label(),
            })
            .inc();
    }

    /// An event frame was queued for a connection.
    pub fn delivered(&self) {
        self.deliveries.inc();
    }

    /// Events were queued for outgoing webhooks.
    pub fn webhook_deliveries_queued(&self, count: usize) {
        self.webhook_deliveries_queued.inc_by(count as u64);
    }

    /// An outgoing webhook call ended: `outcome` is one of `WEBHOOK_OUTCOMES`.
    pub fn webhook_call(&self, outcome: &'static str) {
        self.webhook_calls
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// How far behind the search index was at the indexer's last pass.
    pub fn search_lag(&self, seconds: f64) {
        self.search_lag.set(seconds);
    }

    /// The indexer committed one batch.
    pub fn search_indexed(&self, seconds: f64) {
        self.search_index_commit.observe(seconds);
    }

    /// A search was answered.
    pub fn search_answered(&self, seconds: f64, truncated: bool) {
        self.search_query.observe(seconds);
        if truncated {
            self.search_truncated.inc();
        }
    }

    /// Pushes ended with `result`, one of `PUSH_RESULTS`.
    pub fn push_sent(&self, result: &'static str, count: u64) {
        self.push_sent
            .get_or_create(&ResultLabels { result })
            .inc_by(count);
    }

    /// A connection was cut off for lagging (counted once per connection).
    pub fn lagged_disconnect(&self) {
        self.lagged_disconnects.inc();
    }

    /// An HTTP request was answered. `route` and `method` must come from fixed sets (see
    /// `http::metrics::route_template`), never from the raw request.
    pub fn http_request(&self, route: &'static str, method: &'static str, status: u16, secs: f64) {
        self.http_requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels { route, method })
            .observe(secs);
    }

    /// A group commit of `messages` new messages took `secs` to write and flush.
    pub fn commit_finished(&self, messages: usize, secs: f64) {
        self.commit_duration.observe(secs);
        self.commit_batch.observe(messages as f64);
    }

    /// An expiry sweep finished.
    pub fn sweep_finished(&self) {
        self.sweep_runs.inc();
    }

    /// The sweeper deleted an expired room.
    pub fn room_swept(&self) {
        self.rooms_swept.inc();
    }

    /// A backup was written and closed successfully at `now_ms` (Unix milliseconds, as from the
    /// server's clock). Alert on `time() - confab_backup_last_success_timestamp_seconds`.
    pub fn record_backup_success(&self, now_ms: u64) {
        let secs = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        self.backup_last_success.set(secs);
    }

    /// The scrape body. `rooms_live` is counted by the caller at scrape time: it is a property
    /// of the database, not an event anyone could count as it happens (rooms expire silently).
    pub fn encode(&self, rooms_live: usize) -> Result<String, std::fmt::Error> {
        self.rooms_live
            .set(i64::try_from(rooms_live).unwrap_or(i64::MAX));
        let mut body = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut body, &self.registry)?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(metrics: &Metrics) -> String {
        metrics.encode(2).expect("encodes")
    }

    #[test]
    fn metrics_have_the_documented_names() {
        let metrics = Metrics::new();
        metrics.message_stored();
        metrics.message_sent(Transport::Rest);
        metrics.http_request("/api/rooms/{id}", "GET", 200, 0.003);
        metrics.record_backup_success(1_700_000_000_999);
        metrics.commit_finished(3, 0.002);
        let text = scrape(&metrics);
        for line in [
            &format!("confab_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
            "confab_websocket_connections 0",
            "confab_rooms_live 2",
            "confab_messages_stored_total 1",
            "confab_messages_sent_total{transport=\"rest\"} 1",
            "confab_messages_sent_total{transport=\"websocket\"} 0",
            "confab_deliveries_total 0",
            "confab_lagged_disconnects_total 0",
            "confab_http_requests_total{route=\"/api/rooms/{id}\",method=\"GET\",status=\"200\"} 1",
            "confab_http_request_duration_seconds_count{route=\"/api/rooms/{id}\",method=\"GET\"} 1",
            "confab_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/api/rooms/{id}\",method=\"GET\"} 1",
            "confab_sweep_runs_total 0",
            "confab_rooms_swept_total 0",
            "confab_backup_last_success_timestamp_seconds 1700000000",
            "confab_commit_duration_seconds_count 1",
            "confab_commit_duration_seconds_bucket{le=\"0.0025\"} 1",
            "confab_commit_batch_messages_bucket{le=\"2.0\"} 0",
            "confab_commit_batch_messages_bucket{le=\"5.0\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn metrics_connection_gauge_goes_up_and_down() {
        let metrics = Metrics::new();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        assert_eq!(metrics.connections_open(), 1);
    }
}
