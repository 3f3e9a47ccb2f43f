//! Incoming and outgoing webhooks against a real server: both incoming shapes (confab's and
//! Slack's), limits and bad input; outgoing calls checked by a receiver in the test (signature,
//! timestamp, delivery id), retried through failures and a kill -9 without losing an event;
//! trigger words and replies; the SSRF guard at creation and at delivery; secrets kept out of
//! the log.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{error_code, BinaryServer, Client, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

/// One call the receiver got.
#[derive(Debug, Clone)]
struct Call {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    answered: u16,
}

/// A webhook receiver on 127.0.0.1: records every call and answers each with `answer(call
/// number for this delivery id)` -> (status, extra headers, body).
type Answer = dyn Fn(usize) -> (u16, Vec<(String, String)>, String) + Send + Sync;

struct Receiver {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Receiver {
    async fn start(answer: Arc<Answer>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
        let recorded = calls.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let Some((headers, body)) = common::read_http_request(&mut stream).await else {
                        return;
                    };
                    let delivery = headers
                        .get("x-confab-delivery")
                        .cloned()
                        .unwrap_or_default();
                    let nth = {
                        let calls = recorded.lock().expect("lock");
                        calls
                            .iter()
                            .filter(|c| c.headers.get("x-confab-delivery") == Some(&delivery))
                            .count()
                    };
                    let (status, extra, text) = answer(nth);
                    recorded.lock().expect("lock").push(Call {
                        headers,
                        body,
                        answered: status,
                    });
                    let mut head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                        text.len()
                    );
                    for (name, value) in extra {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(text.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { addr, calls }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls();
            if done(&calls) {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {calls:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn hmac_hex(secret: &str, text: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(text);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a call the way a receiver should: signature over "timestamp.body", a fresh timestamp.
fn assert_signed(call: &Call, secret: &str) {
    let timestamp = &call.headers["x-confab-timestamp"];
    let mut signed = timestamp.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(&call.body);
    assert_eq!(
        call.headers["x-confab-signature"],
        format!("sha256={}", hmac_hex(secret, &signed)),
        "signature"
    );
    let sent: u64 = timestamp.parse().expect("seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        sent <= now + 1 && now - sent < 300,
        "timestamp {sent} vs {now}"
    );
    assert_eq!(call.headers["content-type"], "application/json");
}

fn payload(call: &Call) -> Value {
    serde_json::from_slice(&call.body).expect("JSON payload")
}

async fn create_outgoing(client: &Client, room: &str, body: Value) -> (StatusCode, Value) {
    client
        .post(&format!("/api/rooms/{room}/webhooks/outgoing"), body)
        .await
}

async fn create_incoming(client: &Client, room: &str, name: &str) -> (StatusCode, Value) {
    client
        .post(
            &format!("/api/rooms/{room}/webhooks/incoming"),
            json!({ "name": name }),
        )
        .await
}

async fn call_hook(url: &str, body: &str) -> (StatusCode, Value, Option<String>) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_string());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, retry)
}

async fn deliveries(client: &Client, room: &str, hook: &str) -> Vec<Value> {
    let (status, body) = client
        .get(&format!(
            "/api/rooms/{room}/webhooks/outgoing/{hook}/deliveries"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["deliveries"].as_array().expect("deliveries").clone()
}

/// The log entry of a webhook's first delivery once it has been tried (within 15 s).
async fn first_attempt(client: &Client, room: &str, hook: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = deliveries(client, room, hook).await;
        if let Some(entry) = log.first().filter(|e| e["attempts"] == 1) {
            return entry.clone();
        }
        assert!(Instant::now() < deadline, "no attempt: {log:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_webhooks_post_as_the_webhook_in_both_shapes_within_limits() {
    let server = TestServer::start_with(|config| {
        config.integrations.incoming_burst = 6;
        config.integrations.incoming_per_minute = 1;
        config.limits.max_message_chars = 100;
    })
    .await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let room = ann.create_room("builds").await;

    // Members only; names are checked.
    let (status, body) = create_incoming(&bob, &room, "CI").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "not_member");
    let (status, body) = create_incoming(&ann, &room, " ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_webhook_name");

    let (status, hook) = create_incoming(&ann, &room, "CI").await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let url = hook["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with(&format!("{}/api/hooks/cfh_", server.base)),
        "{url}"
    );

    // confab's shape.
    let (status, posted, _) = call_hook(&url, r#"{"body":"**build** 41 passed"}"#).await;
    assert_eq!(status, StatusCode::OK, "{posted}");
    assert_eq!(posted["ok"], true);
    let message = &posted["message"];
    assert_eq!(message["author"], "ann", "the creator answers for it");
    assert_eq!(message["webhook"]["name"], "CI");
    assert_eq!(message["webhook"]["id"], hook["id"]);
    // Slack's shape, with fields confab does not know.
    let slack = r#"{"text":"deploy done","username":"Deploy bot","icon_emoji":":ship:","attachments":[{"color":"good"}]}"#;
    let (status, posted, _) = call_hook(&url, slack).await;
    assert_eq!(status, StatusCode::OK, "{posted}");
    assert_eq!(posted["message"]["body"], "deploy done");
    assert_eq!(posted["message"]["webhook"]["name"], "Deploy bot");
    // The creator answers for the message (may delete it) but cannot reword it.
    let posted_id = posted["message"]["id"].as_str().expect("id").to_string();
    let (status, answer) = ann
        .patch(
            &format!("/api/rooms/{room}/messages/{posted_id}"),
            json!({"body": "reworded"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // The room's history shows both, as everyone else sees them.
    let history = common::all_messages(&ann, &room).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["webhook"]["name"], "Deploy bot");

    // Bad calls, each with its own code; none posts anything.
    for (body, status, code) in [
        ("{not json", StatusCode::BAD_REQUEST, ""),
        ("{}", StatusCode::BAD_REQUEST, "invalid_webhook_payload"),
        (r#"{"text":5}"#, StatusCode::BAD_REQUEST, ""),
        (r#"{"text":"  "}"#, StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let (got, answer, _) = call_hook(&url, body).await;
        assert_eq!(got, status, "{body}: {answer}");
        if !code.is_empty() {
            assert_eq!(error_code(&answer), code, "{body}: {answer}");
        }
    }
    let (status, _, _) = call_hook(&url, &json!({"text": "x".repeat(101)}).to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let wrong = format!("{}x", &url[..url.len() - 1]);
    let (status, answer, _) = call_hook(&wrong, r#"{"text":"hi"}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&answer), "webhook_not_found");
    assert_eq!(common::all_messages(&ann, &room).await.len(), 2);

    // Calls that reached the webhook took a token each (the rate limit comes before the
    // payload's checks, so floods of bad calls are limited too); beyond the burst of 6 they
    // are refused with a wait.
    let mut limited = None;
    for _ in 0..6 {
        let (status, answer, retry) = call_hook(&url, r#"{"text":"again"}"#).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(error_code(&answer), "rate_limited");
            limited = retry;
            break;
        }
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let retry: u64 = limited.expect("rate limited").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");

    // Listed without the URL, with its last use; deleted, the URL stops working.
    let (status, list) = ann
        .get(&format!("/api/rooms/{room}/webhooks/incoming"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed = &list["webhooks"][0];
    assert_eq!(listed["name"], "CI");
    assert!(listed.get("url").is_none(), "{listed}");
    assert!(listed["last_used_at"].is_string(), "{listed}");
    let id = hook["id"].as_str().expect("id");
    let (status, _) = bob
        .delete(&format!("/api/rooms/{room}/webhooks/incoming/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a member");
    let (status, _) = ann
        .delete(&format!("/api/rooms/{room}/webhooks/incoming/{id}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call_hook(&url, r#"{"text":"after"}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // 20 webhooks per room, incoming and outgoing together.
    for n in 0..20 {
        let (status, body) = create_incoming(&ann, &room, &format!("hook {n}")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = create_incoming(&ann, &room, "one too many").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "too_many_webhooks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_stop_with_their_creators_membership_and_go_with_their_room() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let (status, room) = ann
        .post("/api/rooms", json!({"name": "secret", "kind": "private"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let room = room["id"].as_str().expect("id").to_string();
    let (status, _) = ann
        .put(&format!("/api/rooms/{room}/members/bob"), json!({}))
        .await;
    assert!(status.is_success());
    let (_, hook) = create_incoming(&bob, &room, "bob's CI").await;
    let url = hook["url"].as_str().expect("url").to_string();
    let (status, _, _) = call_hook(&url, r#"{"text":"one"}"#).await;
    assert_eq!(status, StatusCode::OK);
    // Bob leaves: his webhook can no longer post into the private room.
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/leave")).await;
    assert!(status.is_success(), "{status}");
    let (status, answer, _) = call_hook(&url, r#"{"text":"two"}"#).await;
    assert_eq!(status, StatusCode::GONE, "{answer}");
    assert_eq!(error_code(&answer), "webhook_inactive");
    // Deleting the room deletes its webhooks.
    let (_, second) = create_incoming(&ann, &room, "ann's").await;
    let second = second["url"].as_str().expect("url").to_string();
    let (status, _) = ann.delete(&format!("/api/rooms/{room}")).await;
    assert!(status.is_success(), "{status}");
    let (status, _, _) = call_hook(&second, r#"{"text":"gone"}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The receiver answers 500 to the first three tries of every delivery, then 200 with a
/// reply. The server is killed (-9) after the first try and right after a second message was
/// acknowledged; after the restart both events arrive, each succeeds exactly once, and every
/// call is signed. Replies are posted as the webhook and never call it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_calls_are_signed_retried_and_survive_a_kill() {
    let receiver = Receiver::start(Arc::new(|nth| {
        if nth < 3 {
            (500, Vec::new(), r#"{"error":"not yet"}"#.to_string())
        } else {
            (200, Vec::new(), r#"{"text":"got it"}"#.to_string())
        }
    }))
    .await;
    let data = tempfile::tempdir().expect("tempdir");
    let log = data.path().join("server.log");
    let env = [
        (
            "CONFAB_INTEGRATIONS__ALLOWED_NETWORKS",
            r#"["127.0.0.1/32"]"#,
        ),
        ("CONFAB_INTEGRATIONS__WEBHOOK_RETRY_INITIAL", "300ms"),
        ("RUST_LOG", "debug"),
    ];
    let dir = data.path().join("db");
    let server = BinaryServer::start_logged(&dir, &env, &log);
    let ann = server.client().register("ann").await;
    let room = ann.create_room("deploys").await;
    ann.post_message(&room, "before the webhook: never sent")
        .await;
    let (status, hook) = create_outgoing(
        &ann,
        &room,
        json!({"url": receiver.url(), "events": ["message"], "name": "Deployer"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("cfs_"), "{secret}");
    let hook_id = hook["id"].as_str().expect("id").to_string();
    let (_, incoming) = create_incoming(&ann, &room, "CI").await;
    let incoming_url = incoming["url"].as_str().expect("url").to_string();

    let first = ann.post_message(&room, "ship it").await;
    receiver
        .wait_for("the first try", |calls| !calls.is_empty())
        .await;
    let second = ann.post_message(&room, "and this one").await;
    server.kill9();
    let server = BinaryServer::start_logged(&dir, &env, &log.with_extension("2"));
    let ann = Client {
        base: server.base.clone(),
        ..ann
    };

    let calls = receiver
        .wait_for("both events delivered", |calls| {
            calls.iter().filter(|c| c.answered == 200).count() >= 2
        })
        .await;
    // A webhook's post must not call it either.
    let (status, _, _) = call_hook(
        &incoming_url.replace(
            &incoming_url[..incoming_url.find("/api").expect("api")],
            &server.base,
        ),
        r#"{"text":"from CI"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls_after = receiver.calls();
    assert_eq!(
        calls_after.len(),
        calls.len(),
        "no call after both succeeded: {calls_after:#?}"
    );

    let mut by_delivery: HashMap<String, Vec<&Call>> = HashMap::new();
    for call in &calls_after {
        assert_signed(call, &secret);
        by_delivery
            .entry(call.headers["x-confab-delivery"].clone())
            .or_default()
            .push(call);
    }
    assert_eq!(by_delivery.len(), 2, "one delivery id per event");
    let mut bodies = Vec::new();
    for (delivery, calls) in &by_delivery {
        assert_eq!(calls.len(), 4, "{delivery}: three failures, then success");
        assert_eq!(
            calls.iter().filter(|c| c.answered == 200).count(),
            1,
            "{delivery}: exactly one success"
        );
        let first_payload = payload(calls[0]);
        assert!(
            calls.iter().all(|c| c.body == calls[0].body),
            "same bytes each try"
        );
        assert_eq!(first_payload["delivery"], delivery.as_str());
        assert_eq!(first_payload["event"], "message");
        assert_eq!(first_payload["webhook"]["id"], hook_id.as_str());
        assert_eq!(first_payload["room"]["name"], "deploys");
        bodies.push(
            first_payload["message"]["body"]
                .as_str()
                .expect("body")
                .to_string(),
        );
        assert_eq!(calls[0].headers["x-confab-event"], "message");
    }
    bodies.sort();
    assert_eq!(bodies, ["and this one", "ship it"]);
    assert!(first["id"] != second["id"]);

    // Exactly one success recorded per event in the log.
    let log_entries = deliveries(&ann, &room, &hook_id).await;
    assert_eq!(log_entries.len(), 2, "{log_entries:#?}");
    for entry in &log_entries {
        assert_eq!(entry["status"], "delivered", "{entry}");
        assert_eq!(entry["response_status"], 200);
        assert!(entry["attempts"].as_u64().expect("attempts") >= 1);
    }
    // The replies are in the room as the webhook.
    let history = common::all_messages(&ann, &room).await;
    let replies: Vec<&Value> = history.iter().filter(|m| m["body"] == "got it").collect();
    assert_eq!(replies.len(), 2, "{history:#?}");
    assert!(replies.iter().all(|m| m["webhook"]["name"] == "Deployer"));

    // No secret reached the log: not the signing secret, not the incoming URL's, no signature.
    drop(server);
    let mut text = std::fs::read_to_string(&log).expect("log");
    text.push_str(&std::fs::read_to_string(log.with_extension("2")).expect("log 2"));
    assert!(
        text.contains("webhook"),
        "the log is not empty of webhook lines"
    );
    let incoming_secret = &incoming_url[incoming_url.rfind('/').expect("slash") + 1..];
    assert!(!text.contains(&secret), "signing secret in the log");
    assert!(
        !text.contains(incoming_secret),
        "incoming secret in the log"
    );
    assert!(!text.contains("sha256="), "a signature in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_words_choose_the_messages_and_old_ones_are_not_sent() {
    let receiver = Receiver::start(Arc::new(|_| {
        (200, Vec::new(), r#"{"body":"pong"}"#.to_string())
    }))
    .await;
    let server = TestServer::start_with(|config| {
        config.integrations.allowed_networks = vec!["127.0.0.1".into()];
    })
    .await;
    let ann = server.user("ann").await;
    let room = ann.create_room("bots").await;
    let (status, hook) = create_outgoing(
        &ann,
        &room,
        json!({"url": receiver.url(), "events": ["message"], "trigger_words": ["!ping"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    assert_eq!(hook["trigger_words"], json!(["!ping"]));
    ann.post_message(&room, "hello there").await;
    ann.post_message(&room, "!PING now").await;
    let calls = receiver
        .wait_for("the ping", |calls| !calls.is_empty())
        .await;
    let body = payload(&calls[0]);
    assert_eq!(body["message"]["body"], "!PING now");
    assert_eq!(body["trigger_word"], "!ping");
    // The reply lands in the room; "hello there" was never sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let history = common::all_messages(&ann, &room).await;
        if history.iter().any(|m| m["body"] == "pong") {
            break;
        }
        assert!(Instant::now() < deadline, "no reply: {history:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.calls().len(), 1);
    // Counted in /metrics, by outcome; the secret and URL appear nowhere there.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("confab_webhook_calls_total{outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("confab_webhook_deliveries_queued_total 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("cfs_") && !metrics.contains("/hook"),
        "{metrics}"
    );

    // Bad input at creation, each with its code.
    for (body, code) in [
        (
            json!({"url": receiver.url(), "events": []}),
            "invalid_event",
        ),
        (
            json!({"url": receiver.url(), "events": ["typing"]}),
            "invalid_event",
        ),
        (
            json!({"url": receiver.url(), "events": ["message"], "trigger_words": ["two words"]}),
            "invalid_trigger_words",
        ),
        (
            json!({"url": "ftp://example.org/x", "events": ["message"]}),
            "invalid_url",
        ),
        (
            json!({"url": "not a url", "events": ["message"]}),
            "invalid_url",
        ),
        (
            json!({"url": "javascript:alert(1)", "events": ["message"]}),
            "invalid_url",
        ),
    ] {
        let (status, answer) = create_outgoing(&ann, &room, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}: {answer}");
    }
}

/// Internal addresses are refused when the webhook is added and again on every call, so a name
/// that resolves inside later (DNS rebinding) or a network no longer allowed gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_at_creation_and_at_delivery() {
    let receiver = Receiver::start(Arc::new(|_| (200, Vec::new(), "{}".to_string()))).await;
    let port = receiver.addr.port();
    let data = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(data.path(), |_| {}).await;
    let ann = server.user("ann").await;
    let room = ann.create_room("ssrf").await;
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        "http://10.0.0.1/hook".to_string(),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://[::ffff:127.0.0.1]/hook".to_string(),
        "http://0.0.0.0/hook".to_string(),
    ] {
        let (status, answer) =
            create_outgoing(&ann, &room, json!({"url": url, "events": ["message"]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        assert_eq!(error_code(&answer), "forbidden_url", "{url}: {answer}");
    }
    server.stop().await;

    // Allowed when it was added; no longer allowed when the event comes.
    let server = TestServer::start_in(data.path(), |config| {
        config.integrations.allowed_networks = vec!["127.0.0.0/8".into()];
    })
    .await;
    let ann = Client {
        base: server.base.clone(),
        ..ann
    };
    let (status, hook) = create_outgoing(
        &ann,
        &room,
        json!({"url": format!("http://localhost:{port}/hook"), "events": ["message"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().expect("id").to_string();
    server.stop().await;
    let server = TestServer::start_in(data.path(), |config| {
        config.integrations.webhook_retry_initial = Duration::from_secs(3600);
    })
    .await;
    let ann = Client {
        base: server.base.clone(),
        ..ann
    };
    ann.post_message(&room, "to an address now refused").await;
    let entry = first_attempt(&ann, &room, &hook_id).await;
    assert_eq!(entry["status"], "retrying", "{entry}");
    assert!(entry["response_status"].is_null(), "{entry}");
    let error = entry["error"].as_str().expect("error");
    assert!(
        error.contains("127.0.0.1") || error.contains("::1"),
        "{error}"
    );
    assert!(receiver.calls().is_empty(), "the receiver was reached");
    server.stop().await;
}

/// A redirect to an internal address is an answer, not a place to go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start(Arc::new(|_| {
        (
            302,
            vec![("location".to_string(), "http://10.0.0.1/steal".to_string())],
            String::new(),
        )
    }))
    .await;
    let server = TestServer::start_with(|config| {
        config.integrations.allowed_networks = vec!["127.0.0.1/32".into()];
        config.integrations.webhook_retry_initial = Duration::from_secs(3600);
    })
    .await;
    let ann = server.user("ann").await;
    let room = ann.create_room("redirects").await;
    let (_, hook) = create_outgoing(
        &ann,
        &room,
        json!({"url": receiver.url(), "events": ["message"]}),
    )
    .await;
    let hook_id = hook["id"].as_str().expect("id").to_string();
    ann.post_message(&room, "go").await;
    receiver
        .wait_for("the call", |calls| !calls.is_empty())
        .await;
    let entry = first_attempt(&ann, &room, &hook_id).await;
    assert_eq!(entry["status"], "retrying", "{entry}");
    assert_eq!(entry["response_status"], 302);
    assert_eq!(receiver.calls().len(), 1);
}
