//! Web Push end to end without the internet: a push service written here (plain HTTP on
//! 127.0.0.1, allowed by `push.allow_insecure_endpoints`) checks each request's VAPID JWT
//! (ES256 signature, audience, expiry, subject) and decrypts its payload with the
//! subscription's private key, as a browser would. Covered: who is pushed what (levels,
//! mentions, own messages), a read within the delay cancels the push, 410 removes the
//! subscription, 500 is retried, subscriptions survive a restart, and bad subscriptions are
//! refused with clear codes.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64ct::{Base64UrlUnpadded, Encoding};
use common::{error_code, Client, TestServer};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// One push the service got.
#[derive(Debug, Clone)]
struct Push {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A push service on 127.0.0.1. Each endpoint path answers by its first segment: `/gone/..`
/// 410, `/flaky/..` 500 to its first push and 201 after, anything else 201.
struct PushService {
    addr: SocketAddr,
    pushes: Arc<Mutex<Vec<Push>>>,
}

impl PushService {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let pushes = Arc::new(Mutex::new(Vec::<Push>::new()));
        let recorded = pushes.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let Some((path, headers, body)) = read_push(&mut stream).await else {
                        return;
                    };
                    let earlier = {
                        let mut pushes = recorded.lock().expect("lock");
                        let earlier = pushes.iter().filter(|p| p.path == path).count();
                        pushes.push(Push {
                            path: path.clone(),
                            headers,
                            body,
                        });
                        earlier
                    };
                    let status = match path.split('/').nth(1) {
                        Some("gone") => 410,
                        Some("flaky") if earlier == 0 => 500,
                        _ => 201,
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { addr, pushes }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn pushes_to(&self, path: &str) -> Vec<Push> {
        self.pushes
            .lock()
            .expect("lock")
            .iter()
            .filter(|p| p.path == path)
            .cloned()
            .collect()
    }

    async fn wait_for(&self, path: &str, count: usize) -> Vec<Push> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pushes = self.pushes_to(path);
            if pushes.len() >= count {
                return pushes;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {count} pushes to {path}: got {}",
                pushes.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The request line's path, the headers and the body.
async fn read_push(
    stream: &mut tokio::net::TcpStream,
) -> Option<(String, HashMap<String, String>, Vec<u8>)> {
    let mut peek = [0u8; 2048];
    let n = stream.peek(&mut peek).await.ok()?;
    let line = String::from_utf8_lossy(&peek[..n]).to_string();
    let path = line.split_whitespace().nth(1)?.to_string();
    let (headers, body) = common::read_http_request(stream).await?;
    Some((path, headers, body))
}

/// A browser's side of a subscription: its key pair and auth secret.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Self {
        let mut auth = [0u8; 16];
        OsRng.fill_bytes(&mut auth);
        Self {
            secret: p256::SecretKey::random(&mut OsRng),
            auth,
        }
    }

    fn subscription(&self, endpoint: &str) -> Value {
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": Base64UrlUnpadded::encode_string(&self.secret.public_key().to_sec1_bytes()),
                "auth": Base64UrlUnpadded::encode_string(&self.auth),
            }
        })
    }

    /// Decrypts a push as the browser would (RFC 8291, aes128gcm).
    fn open(&self, push: &Push) -> Value {
        assert_eq!(push.headers["content-encoding"], "aes128gcm");
        let auth = web_push_native::Auth::clone_from_slice(&self.auth);
        let plain = web_push_native::decrypt(push.body.clone(), &self.secret, &auth)
            .expect("the payload decrypts with the subscription's key");
        serde_json::from_slice(&plain).expect("a JSON payload")
    }
}

/// Checks a push's VAPID header (RFC 8292) against the server's public key and the endpoint's
/// origin.
fn assert_vapid(push: &Push, server_key: &str, origin: &str) {
    let header = &push.headers["authorization"];
    let rest = header.strip_prefix("vapid ").expect("vapid scheme");
    let mut token = "";
    let mut key = "";
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(t) = part.strip_prefix("t=") {
            token = t;
        } else if let Some(k) = part.strip_prefix("k=") {
            key = k;
        }
    }
    assert_eq!(key, server_key, "k= is the key from /api/push/key");
    let (signed, signature) = token.rsplit_once('.').expect("header.claims.signature");
    let (header_b64, claims_b64) = signed.split_once('.').expect("header.claims");
    let header: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(header_b64).expect("b64"))
            .expect("json");
    assert_eq!(header["alg"], "ES256");
    let claims: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(claims_b64).expect("b64"))
            .expect("json");
    assert_eq!(
        claims["aud"], origin,
        "the audience is the endpoint's origin"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within 24 h: {claims}"
    );
    let sub = claims["sub"].as_str().expect("sub");
    assert!(
        sub.starts_with("mailto:") || sub.starts_with("https://"),
        "{sub}"
    );
    let verifying =
        VerifyingKey::from_sec1_bytes(&Base64UrlUnpadded::decode_vec(server_key).expect("key b64"))
            .expect("a P-256 key");
    let signature =
        Signature::from_slice(&Base64UrlUnpadded::decode_vec(signature).expect("signature b64"))
            .expect("a 64-byte ES256 signature");
    verifying
        .verify(signed.as_bytes(), &signature)
        .expect("the JWT is signed with the server's VAPID key");
}

fn fast_push(config: &mut confab::config::Config) {
    config.push.allow_insecure_endpoints = true;
    config.push.delay = Duration::from_millis(400);
    config.push.retry_initial = Duration::from_millis(200);
}

async fn subscribe(client: &Client, subscription: Value) -> (StatusCode, Value) {
    client.post("/api/push/subscriptions", subscription).await
}

async fn endpoints(client: &Client) -> Vec<String> {
    let (status, body) = client.get("/api/push/subscriptions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["subscriptions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["endpoint"].as_str().expect("endpoint").to_string())
        .collect()
}

async fn push_metric(server: &TestServer, result: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let prefix = format!("confab_push_sent_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifying_unread_messages_are_pushed_signed_and_encrypted() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(data.path(), fast_push).await;
    let service = PushService::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let room = ann.create_room("standup").await;
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/join")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, key) = bob.get("/api/push/key").await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let server_key = key["public_key"].as_str().expect("key").to_string();
    let point = Base64UrlUnpadded::decode_vec(&server_key).expect("base64url");
    assert_eq!(point.len(), 65, "an uncompressed P-256 point");

    let browser = Browser::new();
    let endpoint = service.endpoint("/bob/laptop");
    let (status, saved) = subscribe(&bob, browser.subscription(&endpoint)).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["endpoint"], endpoint.as_str());
    let (status, _) = subscribe(&bob, browser.subscription(&endpoint)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same endpoint again is an update"
    );

    // Bob's level in a public room is `mentions`: a plain message is not pushed; one that
    // mentions him is, after the delay, carrying its first 100 characters.
    ann.post_message(&room, "good morning").await;
    let long = format!("@bob please look at this {}", "x".repeat(150));
    let mention = ann.post_message(&room, &long).await;
    let pushes = service.wait_for("/bob/laptop", 1).await;
    let push = &pushes[0];
    assert_vapid(push, &server_key, &format!("http://{}", service.addr));
    assert_eq!(push.headers["urgency"], "high", "a mention is urgent");
    assert_eq!(push.headers["topic"], room, "one topic per room");
    assert!(push.headers["ttl"].parse::<u64>().expect("ttl") > 0);
    let payload = browser.open(push);
    assert_eq!(payload["type"], "message");
    assert_eq!(payload["room"], room.as_str());
    assert_eq!(payload["room_name"], "standup");
    assert_eq!(payload["room_kind"], "public");
    assert_eq!(payload["sender"], "ann");
    assert_eq!(payload["message"], mention["id"]);
    assert_eq!(payload["mention"], true);
    let body = payload["body"].as_str().expect("body");
    assert_eq!(body.chars().count(), 101, "100 characters and an ellipsis");
    assert!(body.starts_with("@bob please look") && body.ends_with('…'));

    // A mention bob reads (on any device) within the delay is not pushed.
    let seen = ann.post_message(&room, "@bob quick one").await;
    let (status, _) = bob
        .put(
            &format!("/api/rooms/{room}/read"),
            json!({"message": seen["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // At level `all` every message from someone else is pushed, not bob's own.
    let (status, _) = bob
        .put(
            &format!("/api/rooms/{room}/notifications"),
            json!({"level": "all"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    bob.post_message(&room, "my own words").await;
    let plain = ann.post_message(&room, "lunch?").await;
    let pushes = service.wait_for("/bob/laptop", 2).await;
    let payload = browser.open(&pushes[1]);
    assert_eq!(
        payload["message"], plain["id"],
        "the read mention was skipped"
    );
    assert_eq!(payload["mention"], false);
    assert_eq!(pushes[1].headers["urgency"], "normal");
    // Nothing else arrives: not the read mention, not bob's own message.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(service.pushes_to("/bob/laptop").len(), 2);

    // At `none`, nothing.
    let (status, _) = bob
        .put(
            &format!("/api/rooms/{room}/notifications"),
            json!({"level": "none"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    ann.post_message(&room, "@bob muted").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(service.pushes_to("/bob/laptop").len(), 2);
    assert_eq!(push_metric(&server, "sent").await, 2);

    // The key and the subscription survive a restart.
    server.stop().await;
    let server = TestServer::start_in(data.path(), fast_push).await;
    let bob = Client {
        base: server.base.clone(),
        ..bob
    };
    let (status, again) = bob.get("/api/push/key").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["public_key"],
        server_key.as_str(),
        "the same VAPID key"
    );
    assert_eq!(endpoints(&bob).await, vec![endpoint.clone()]);
    let carol = server.user("carol").await;
    let (status, dm) = carol.post("/api/dms", json!({"users": ["bob"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let dm = dm["id"].as_str().expect("dm id").to_string();
    let direct = carol.post_message(&dm, "psst").await;
    let pushes = service.wait_for("/bob/laptop", 3).await;
    let payload = browser.open(&pushes[2]);
    assert_eq!(
        payload["message"], direct["id"],
        "direct rooms notify everything"
    );
    assert_eq!(payload["room_kind"], "direct");
    assert_vapid(&pushes[2], &server_key, &format!("http://{}", service.addr));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_subscriptions_are_removed_and_failed_pushes_retried() {
    let server = TestServer::start_with(fast_push).await;
    let service = PushService::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let (status, dm) = ann.post("/api/dms", json!({"users": ["bob"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let dm = dm["id"].as_str().expect("dm id").to_string();

    let phone = Browser::new();
    let laptop = Browser::new();
    let gone = service.endpoint("/gone/phone");
    let flaky = service.endpoint("/flaky/laptop");
    for (browser, endpoint) in [(&phone, &gone), (&laptop, &flaky)] {
        let (status, body) = subscribe(&bob, browser.subscription(endpoint)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let sent = ann.post_message(&dm, "are you there?").await;
    // 410: tried once, then the subscription is gone.
    service.wait_for("/gone/phone", 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoints(&bob).await.contains(&gone) {
        assert!(Instant::now() < deadline, "the gone subscription stays");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(endpoints(&bob).await, vec![flaky.clone()]);
    // 500: tried again, with the same message.
    let tries = service.wait_for("/flaky/laptop", 2).await;
    for attempt in &tries {
        assert_eq!(laptop.open(attempt)["message"], sent["id"]);
    }
    assert_eq!(push_metric(&server, "gone").await, 1);
    assert!(push_metric(&server, "retried").await >= 1);
    assert_eq!(push_metric(&server, "sent").await, 1);

    // The next message reaches only the live subscription.
    ann.post_message(&dm, "again").await;
    service.wait_for("/flaky/laptop", 3).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(service.pushes_to("/gone/phone").len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_checked_limited_and_removable() {
    // The production settings: https only, no internal addresses.
    let server = TestServer::start().await;
    let bob = server.user("bob").await;
    let browser = Browser::new();
    let valid = browser.subscription("https://push.example.org/x");
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        match field {
            "endpoint" => body["endpoint"] = value,
            key => body["keys"][key] = value,
        }
        body
    };
    let long = format!("https://push.example.org/{}", "a".repeat(2100));
    let mut off_curve = browser.secret.public_key().to_sec1_bytes().to_vec();
    off_curve[64] ^= 1;
    for (body, code) in [
        (
            with("endpoint", json!("http://push.example.org/x")),
            "invalid_endpoint",
        ),
        (with("endpoint", json!("not a url")), "invalid_endpoint"),
        (with("endpoint", json!(long)), "invalid_endpoint"),
        (
            with("endpoint", json!("https://127.0.0.1/x")),
            "forbidden_endpoint",
        ),
        (
            with("endpoint", json!("https://10.1.2.3/x")),
            "forbidden_endpoint",
        ),
        (
            with("endpoint", json!("https://[::1]/x")),
            "forbidden_endpoint",
        ),
        (
            with("endpoint", json!("https://169.254.169.254/x")),
            "forbidden_endpoint",
        ),
        (
            with(
                "p256dh",
                json!(Base64UrlUnpadded::encode_string(&off_curve)),
            ),
            "invalid_keys",
        ),
        (with("p256dh", json!("AAAA")), "invalid_keys"),
        (with("p256dh", json!("not base64!")), "invalid_keys"),
        (
            with("auth", json!(Base64UrlUnpadded::encode_string(&[1u8; 15]))),
            "invalid_keys",
        ),
    ] {
        let (status, answer) = subscribe(&bob, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}");
    }
    assert!(endpoints(&bob).await.is_empty());
    let (status, _) = server.client().get("/api/push/key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;

    // Ten per user: an eleventh replaces the oldest. Unsubscribing takes one away.
    let server = TestServer::start_with(fast_push).await;
    let bob = server.user("bob").await;
    let mut made = Vec::new();
    for n in 0..11 {
        let endpoint = format!("http://127.0.0.1:9/device/{n}");
        let (status, body) = subscribe(&bob, Browser::new().subscription(&endpoint)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        made.push(endpoint);
        // Distinct creation times, so "oldest" is well defined.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let kept = endpoints(&bob).await;
    assert_eq!(kept, made[1..].to_vec(), "the oldest was replaced");
    let delete = |endpoint: &str| {
        bob.send(
            bob.http
                .delete(format!("{}/api/push/subscriptions", bob.base))
                .json(&json!({ "endpoint": endpoint })),
        )
    };
    let (status, _) = delete(&made[5]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = delete(&made[5]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "not_found");
    assert_eq!(endpoints(&bob).await.len(), 9);
    // Someone else's subscriptions are not yours to see or remove.
    let eve = server.user("eve").await;
    assert!(endpoints(&eve).await.is_empty());
    let (status, _) = eve
        .send(
            eve.http
                .delete(format!("{}/api/push/subscriptions", eve.base))
                .json(&json!({ "endpoint": made[6] })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(endpoints(&bob).await.len(), 9);
    server.stop().await;

    // Push turned off: the routes say so.
    let server = TestServer::start_with(|config| config.push.enabled = false).await;
    let bob = server.user("bob").await;
    let (status, body) = bob.get("/api/push/key").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_code(&body), "push_disabled");
    let (status, body) = subscribe(&bob, valid).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    server.stop().await;
}

/// An encrypted room's push says only that there is something new: never the ciphertext,
/// which the service worker could not read anyway, nor anything of the content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_from_encrypted_rooms_carry_no_content() {
    use base64ct::Base64;
    let server = TestServer::start_with(fast_push).await;
    let service = PushService::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    for (client, seed) in [(&ann, 1u8), (&bob, 2u8)] {
        let (status, body) = client.put("/api/keys/me", common::identity_key(seed)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, dm) = ann
        .post("/api/dms", json!({"users": ["bob"], "encrypted": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let dm = dm["id"].as_str().expect("dm id").to_string();
    let wrapped = |name: &str| {
        json!({"username": name, "wrapped_key": Base64::encode_string(&[7u8; 48]),
               "iv": Base64::encode_string(&[8u8; 12])})
    };
    let (status, body) = ann
        .put(
            &format!("/api/rooms/{dm}/keys"),
            json!({"key_version": 1, "keys": [wrapped("ann"), wrapped("bob")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let browser = Browser::new();
    let endpoint = service.endpoint("/bob/phone");
    let (status, _) = subscribe(&bob, browser.subscription(&endpoint)).await;
    assert_eq!(status, StatusCode::CREATED);
    let ciphertext = Base64::encode_string(&[42u8; 64]);
    let (status, sent) = ann
        .post(
            &format!("/api/rooms/{dm}/messages"),
            json!({"ciphertext": ciphertext, "iv": Base64::encode_string(&[1u8; 12]),
                   "key_version": 1, "mentions": ["bob"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let pushes = service.wait_for("/bob/phone", 1).await;
    let payload = browser.open(&pushes[0]);
    assert_eq!(payload["message"], sent["id"]);
    assert_eq!(payload["encrypted"], true);
    assert_eq!(payload["body"], "New message in a direct conversation");
    assert_eq!(payload["mention"], true, "the client's mentions count");
    assert!(!payload.to_string().contains(&ciphertext), "{payload}");
    server.stop().await;
}
