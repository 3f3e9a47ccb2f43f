//! The access log (`log.access`), read from the real binary's stderr: one info line per HTTP
//! request, WebSocket upgrades included, unless the setting turns it off; `/metrics` counts the
//! requests either way.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{BinaryServer, Ws, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// What one server run left behind.
struct Run {
    /// Every line the server logged, as JSON (`log.format = "json"`).
    log: Vec<Value>,
    /// `GET /metrics` after the traffic.
    scrape: String,
}

impl Run {
    /// The access-log lines: the middleware's `request` events.
    fn access_lines(&self) -> Vec<&Value> {
        self.log
            .iter()
            .filter(|line| line["fields"]["message"] == "request")
            .collect()
    }

    /// Whether an access-log line says `method path` was answered with `status`.
    fn logged(&self, method: &str, path: &str, status: u16) -> bool {
        self.access_lines().iter().any(|line| {
            let fields = &line["fields"];
            fields["method"] == method && fields["path"] == path && fields["status"] == status
        })
    }

    /// The value of the `confab_http_requests_total` sample for one route, method and status.
    fn requests(&self, route: &str, method: &str, status: u16) -> f64 {
        let series = format!(
            "confab_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} "
        );
        self.scrape
            .lines()
            .find_map(|line| line.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no sample {series}in:\n{}", self.scrape))
            .trim()
            .parse()
            .expect("numeric sample")
    }
}

/// Starts the binary with the info level and JSON logs plus `env`, registers a user, asks who
/// it is, opens a WebSocket and pings it, scrapes `/metrics`, then stops the server with SIGTERM
/// so that its log is complete.
async fn run(env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("server.log");
    let mut all_env = vec![("RUST_LOG", "info"), ("CONFAB_LOG__FORMAT", "json")];
    all_env.extend_from_slice(env);
    let mut server = BinaryServer::start_logged(&dir.path().join("data"), &all_env, &log_path);

    let mut client = server.client();
    let (status, body) = client
        .post(
            "/api/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    client.token = Some(body["token"].as_str().expect("token").to_string());
    let (status, body) = client.get("/api/auth/me").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ws = Ws::connect(&server.base, client.token.as_deref()).await;
    ws.send_json(json!({"type": "ping"})).await;
    ws.recv_type("pong").await;
    drop(ws);
    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("scrape sent");
    assert_eq!(response.status(), StatusCode::OK);
    let scrape = response.text().await.expect("scrape body");

    assert!(Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill runs")
        .success());
    let exit = server
        .wait_for_exit(Duration::from_secs(20))
        .expect("the server stops on SIGTERM");
    assert!(exit.success(), "{exit}");
    let text = std::fs::read_to_string(&log_path).expect("read the server log");
    let log = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: not JSON: {line}"))
        })
        .collect();
    Run { log, scrape }
}

/// The requests `run` makes are counted whether or not they are logged.
fn assert_counted(run: &Run) {
    assert_eq!(run.requests("/api/auth/register", "POST", 201), 1.0);
    assert_eq!(run.requests("/api/auth/me", "GET", 200), 1.0);
    assert_eq!(run.requests("/api/ws", "GET", 101), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_and_upgrade_is_logged_by_default() {
    let run = run(&[]).await;
    assert!(
        run.logged("POST", "/api/auth/register", 201),
        "{:#?}",
        run.log
    );
    assert!(run.logged("GET", "/api/auth/me", 200), "{:#?}", run.log);
    assert!(run.logged("GET", "/api/ws", 101), "{:#?}", run.log);
    assert!(run.logged("GET", "/metrics", 200), "{:#?}", run.log);
    for line in run.access_lines() {
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["fields"]["elapsed_ms"].is_number(), "{line}");
    }
    assert_counted(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_no_request_is_logged_and_all_are_counted() {
    let run = run(&[("CONFAB_LOG__ACCESS", "false")]).await;
    assert_eq!(run.access_lines(), Vec::<&Value>::new());
    // The rest of the info log is still there: the quiet is the setting's doing.
    let messages: Vec<&Value> = run
        .log
        .iter()
        .map(|line| &line["fields"]["message"])
        .collect();
    for wanted in [
        "confab is listening",
        "account registered",
        "stopped cleanly",
    ] {
        assert!(
            messages.iter().any(|message| *message == wanted),
            "no {wanted:?} in {messages:#?}"
        );
    }
    assert_counted(&run);
}
