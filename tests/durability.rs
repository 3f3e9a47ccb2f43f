//! A message is durable before it is acknowledged: kill -9 the real binary at random moments
//! during traffic, restart it each time, and at the end every acknowledged message is there
//! exactly once, with its id, in order.
//!
//! `CONFAB_CRASH_KILLS` sets the number of kills (3 by default, as in CI; the long run in
//! docs/security.md used 25). Each kill comes a random 0-600 ms into a round of WebSocket and
//! REST sends; the seed is printed, and `CONFAB_CRASH_SEED` replays a run's moments.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{all_messages, BinaryServer, Client, Ws, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A small xorshift generator: kill moments need to vary, not to be unpredictable.
struct Moments(u64);

impl Moments {
    fn from_env() -> (Self, u64) {
        let seed = std::env::var("CONFAB_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.map_or(1, |d| d.as_nanos() as u64)
            });
        (Self(seed | 1), seed)
    }

    /// A duration in `0..=max`.
    fn up_to(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        max.mul_f64((self.0 % 1_001) as f64 / 1_000.0)
    }
}

fn kills_from_env() -> usize {
    std::env::var("CONFAB_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Posts over REST until the server is gone (or 200 posts), returning the acknowledged ones.
async fn post_until_killed(client: Client, room: String, round: usize) -> Vec<(String, String)> {
    let mut done = Vec::new();
    let url = format!("{}/api/rooms/{room}/messages", client.base);
    let token = client.token.clone().expect("token");
    for i in 0..200 {
        let body = format!("r{round}-rest-{i}");
        let sent = client
            .http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "body": body }))
            .send()
            .await;
        let Ok(response) = sent else { break };
        if response.status() != StatusCode::CREATED {
            break;
        }
        let Ok(message) = response.json::<Value>().await else {
            break;
        };
        done.push((body, message["id"].as_str().expect("id").to_string()));
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let kills = kills_from_env();
    let (mut moments, seed) = Moments::from_env();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked: HashMap<String, String> = HashMap::new(); // body -> id
    let mut room = String::new();
    let mut token = String::new();

    for round in 0..kills {
        let server = BinaryServer::start(
            dir.path(),
            &[
                ("CONFAB_LIMITS__SENDS_PER_SECOND", "100000"),
                ("CONFAB_LIMITS__SEND_BURST", "100000"),
            ],
        );
        let mut client = server.client();
        if round == 0 {
            let (status, body) = client
                .post(
                    "/api/auth/register",
                    json!({"username": "alice", "password": PASSWORD}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            token = body["token"].as_str().expect("token").to_string();
            client.token = Some(token.clone());
            room = client.create_room("durable").await;
        }
        client.token = Some(token.clone());

        // WebSocket sends with a window of 32 in flight, plus REST posts alongside.
        let mut ws = Ws::connect(&server.base, Some(&token)).await;
        ws.join(&room, None, 0).await;
        let rest_task = tokio::spawn(post_until_killed(client.clone(), room.clone(), round));
        let deadline = tokio::time::Instant::now() + moments.up_to(Duration::from_millis(600));
        let mut next = 0;
        let mut in_flight = 0;
        loop {
            while in_flight < 32 {
                let body = format!("r{round}-ws-{next}");
                ws.send_json(json!({"type": "send", "room": room, "body": body, "nonce": body}))
                    .await;
                next += 1;
                in_flight += 1;
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            let frame = ws.recv().await;
            if let Some(nonce) = frame["nonce"].as_str() {
                acked.insert(
                    nonce.to_string(),
                    frame["message"]["id"].as_str().expect("id").to_string(),
                );
                in_flight -= 1;
            }
        }
        // Kill while sends are still in flight: those may or may not survive, acked ones must.
        server.kill9();
        for (body, id) in rest_task.await.expect("rest task") {
            acked.insert(body, id);
        }
    }
    assert!(
        acked.len() > 50,
        "the test acknowledged too little to mean anything: {}",
        acked.len()
    );

    let server = BinaryServer::start(dir.path(), &[]);
    let mut client = server.client();
    client.token = Some(token.clone());
    let stored = all_messages(&client, &room).await;
    let mut by_body: HashMap<&str, Vec<&Value>> = HashMap::new();
    for message in &stored {
        by_body
            .entry(message["body"].as_str().expect("body"))
            .or_default()
            .push(message);
    }
    for (body, id) in &acked {
        let copies = by_body.get(body.as_str()).map(Vec::len).unwrap_or(0);
        assert_eq!(
            copies, 1,
            "acknowledged message {body} must be stored exactly once (seed {seed})"
        );
        assert_eq!(
            by_body[body.as_str()][0]["id"],
            id.as_str(),
            "{body} keeps its id"
        );
    }
    common::assert_ids_increase(&stored, "history is in id order without duplicates");
    eprintln!(
        "{kills} kills (seed {seed}): {} acknowledged messages all present once with their ids, \
         {} stored in all, {:.1?}",
        acked.len(),
        stored.len(),
        started.elapsed()
    );
}
