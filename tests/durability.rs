//! A message is durable before it is acknowledged: kill -9 the real binary during traffic,
//! restart it, and every acknowledged message is there exactly once, with its id, in order.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{BinaryServer, Ws, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked: HashMap<String, String> = HashMap::new(); // body -> id
    let mut room = String::new();
    let mut token = String::new();

    for round in 0..3 {
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
        let rest = client.clone();
        let rest_room = room.clone();
        let rest_task = tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0.. {
                let body = format!("r{round}-rest-{i}");
                let (status, message) = rest
                    .post(
                        &format!("/api/rooms/{rest_room}/messages"),
                        json!({"body": body}),
                    )
                    .await;
                if status != StatusCode::CREATED {
                    break;
                }
                done.push((body, message["id"].as_str().unwrap_or_default().to_string()));
                if done.len() >= 40 {
                    break;
                }
            }
            done
        });
        let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
        let mut next = 0;
        let mut in_flight = 0;
        while tokio::time::Instant::now() < deadline {
            while in_flight < 32 {
                let body = format!("r{round}-ws-{next}");
                ws.send_json(json!({"type": "send", "room": room, "body": body, "nonce": body}))
                    .await;
                next += 1;
                in_flight += 1;
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
            "acknowledged message {body} must be stored exactly once"
        );
        assert_eq!(
            by_body[body.as_str()][0]["id"],
            id.as_str(),
            "{body} keeps its id"
        );
    }
    common::assert_ids_increase(&stored, "history is in id order without duplicates");
}

async fn all_messages(client: &common::Client, room: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(after) => format!("/api/rooms/{room}/messages?limit=200&after={after}"),
            None => format!("/api/rooms/{room}/messages?limit=200&after=0000000000000000"),
        };
        let (status, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["messages"].as_array().expect("messages").clone();
        if page.is_empty() {
            return all;
        }
        after = page
            .last()
            .and_then(|m| m["id"].as_str())
            .map(str::to_string);
        all.extend(page);
    }
}
