//! End-to-end encrypted rooms over real HTTP and WebSocket (docs/encrypted-rooms.md): the
//! server keeps identity keys and wrapped room keys for the browsers, stores ciphertext as it
//! came, and enforces who may hold which key version. The browser side (WebCrypto) is tested
//! in tests/js/ and tests/browser/e2e-encrypted.mjs.

mod common;

use std::time::Duration;

use base64ct::{Base64, Encoding};
use common::cli::{confab, ok};
use common::{
    error_code, identity_key as identity, p256_public_key as public_key, Client, TestServer,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn b64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

async fn with_identity(server: &TestServer, name: &str, seed: u8) -> Client {
    let client = server.user(name).await;
    let (status, body) = client.put("/api/keys/me", identity(seed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    client
}

async fn encrypted_room(owner: &Client, name: &str, members: &[&Client]) -> String {
    let (status, room) = owner
        .post(
            "/api/rooms",
            json!({"name": name, "kind": "private", "encrypted": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let id = room["id"].as_str().expect("id").to_string();
    for member in members {
        let (status, body) = owner
            .put(
                &format!("/api/rooms/{id}/members/{}", member.username),
                Value::Null,
            )
            .await;
        assert!(status.is_success(), "add {}: {body}", member.username);
    }
    id
}

fn wrapped_for(username: &str, n: u8) -> Value {
    json!({"username": username, "wrapped_key": b64(&[n; 48]), "iv": b64(&[n; 12])})
}

async fn share(owner: &Client, room: &str, version: u32, with: &[&str]) -> (StatusCode, Value) {
    let keys: Vec<Value> = with
        .iter()
        .enumerate()
        .map(|(i, name)| wrapped_for(name, i as u8 + 1))
        .collect();
    owner
        .put(
            &format!("/api/rooms/{room}/keys"),
            json!({"key_version": version, "keys": keys}),
        )
        .await
}

fn sealed(version: u32, seed: u8) -> Value {
    json!({"ciphertext": b64(&[seed; 40]), "iv": b64(&[seed; 12]), "key_version": version})
}

async fn send_sealed(client: &Client, room: &str, body: Value) -> (StatusCode, Value) {
    client
        .post(&format!("/api/rooms/{room}/messages"), body)
        .await
}

#[tokio::test]
async fn identity_keys_are_checked_stored_and_shown_with_their_fingerprint() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let (status, body) = ann.get("/api/keys/me").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "no_key")
    );

    let (status, own) = ann.put("/api/keys/me", identity(1)).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    let raw = Base64::decode_vec(&public_key(1)).expect("as set up");
    let fingerprint: String = Sha256::digest(&raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(own["fingerprint"], fingerprint.as_str());
    assert_eq!(own["kdf"]["iterations"], 600_000);

    // A new device gets the wrapped private key and how to unlock it.
    let (_, again) = ann.get("/api/keys/me").await;
    assert_eq!(
        again["wrapped_private_key"],
        identity(1)["wrapped_private_key"]
    );
    assert_eq!(again["kdf"]["salt"], identity(1)["kdf"]["salt"]);
    // Anyone sees the public half only.
    let bob = server.user("bob").await;
    let (status, public) = bob.get("/api/keys/ann").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["public_key"], public_key(1).as_str());
    assert_eq!(public["fingerprint"], fingerprint.as_str());
    assert!(public.get("wrapped_private_key").is_none(), "{public}");
    let (status, body) = ann.get("/api/keys/bob").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "no_key")
    );

    // Not a point on the curve, a compressed point, garbage, a weak KDF, wrong JSON types.
    let mut off_curve = Base64::decode_vec(&public_key(1)).expect("as set up");
    off_curve[64] ^= 1;
    let mut compressed = vec![2u8];
    compressed.extend_from_slice(&raw[1..33]);
    for (key, code) in [
        (b64(&off_curve), "invalid_key"),
        (b64(&compressed), "invalid_key"),
        ("not base64!".to_string(), "invalid_key"),
    ] {
        let mut body = identity(2);
        body["public_key"] = json!(key);
        let (status, answer) = ann.put("/api/keys/me", body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (StatusCode::BAD_REQUEST, code)
        );
    }
    for (field, value) in [
        ("iterations", json!(100_000)),
        ("name", json!("scrypt")),
        ("salt", json!(b64(&[1; 8]))),
        ("iv", json!(b64(&[1; 16]))),
    ] {
        let mut body = identity(2);
        body["kdf"][field] = value;
        let (status, answer) = ann.put("/api/keys/me", body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (StatusCode::BAD_REQUEST, "invalid_kdf"),
            "{field}"
        );
    }
    let mut body = identity(2);
    body["public_key"] = json!(5);
    let (status, _) = ann.put("/api/keys/me", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // None of the refused uploads replaced the key.
    let (_, still) = ann.get("/api/keys/me").await;
    assert_eq!(still["public_key"], public_key(1).as_str());
}

#[tokio::test]
async fn only_private_and_direct_rooms_are_encrypted_and_say_so() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let (status, body) = ann
        .post("/api/rooms", json!({"name": "open", "encrypted": true}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_encryption")
    );
    let room = encrypted_room(&ann, "vault", &[]).await;
    let (_, view) = ann.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(
        (view["encrypted"].clone(), view["key_version"].clone()),
        (json!(true), json!(1))
    );
    let plain = ann.create_room("plain").await;
    let (_, view) = ann.get(&format!("/api/rooms/{plain}")).await;
    assert_eq!(view["encrypted"], false);
    assert!(view.get("key_version").is_none(), "{view}");

    // An encrypted direct room is a room of its own beside the plain one.
    let (status, plain_dm) = ann.post("/api/dms", json!({"users": ["bob"]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, sealed_dm) = ann
        .post("/api/dms", json!({"users": ["bob"], "encrypted": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sealed_dm}");
    assert_ne!(plain_dm["id"], sealed_dm["id"]);
    assert_eq!(sealed_dm["encrypted"], true);
    let (status, again) = bob
        .post("/api/dms", json!({"users": ["ann"], "encrypted": true}))
        .await;
    assert_eq!(
        (status, again["id"].clone()),
        (StatusCode::OK, sealed_dm["id"].clone())
    );
}

#[tokio::test]
async fn room_keys_are_established_once_per_version_and_shared_only_with_members() {
    let server = TestServer::start().await;
    let ann = with_identity(&server, "ann", 1).await;
    let bob = with_identity(&server, "bob", 2).await;
    let cat = server.user("cat").await; // no identity key yet
    let eve = with_identity(&server, "eve", 4).await; // not a member
    let room = encrypted_room(&ann, "vault", &[&bob, &cat]).await;

    let (_, before) = ann.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(before["key_version"], 1);
    assert_eq!(before["keys"], json!([]));
    assert_eq!(before["missing"], json!(["ann", "bob"]));
    assert_eq!(before["without_key"], json!(["cat"]));

    // Not for a non-member, nor for someone without a key; not another version; yourself first.
    let (status, body) = share(&ann, &room, 1, &["ann", "eve"]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "not_member")
    );
    let (status, body) = share(&ann, &room, 1, &["ann", "cat"]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "no_public_key")
    );
    let (status, body) = share(&ann, &room, 2, &["ann"]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "unknown_key_version")
    );
    let (status, body) = share(&ann, &room, 1, &["bob"]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "must_include_self")
    );
    let (status, body) = share(&eve, &room, 1, &["eve"]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let mut bob_ws = bob.ws().await;
    let (status, body) = share(&ann, &room, 1, &["ann", "bob"]).await;
    assert_eq!((status, body["stored"].clone()), (StatusCode::OK, json!(2)));
    let notice = bob_ws.recv_type("room_key").await;
    assert_eq!(
        (notice["room"].as_str(), notice["key_version"].clone()),
        (Some(room.as_str()), json!(1))
    );

    // Version 1 exists now: bob holds it and may share it; a member without it may not
    // establish a second key of the same version.
    let (_, mine) = bob.get(&format!("/api/rooms/{room}/keys/me")).await;
    let held = &mine["keys"][0];
    assert_eq!(held["key_version"], 1);
    assert_eq!(held["wrapped_by"], "ann");
    assert_eq!(held["wrapper_public_key"], public_key(1).as_str());
    assert_eq!(held["wrapped_key"], wrapped_for("bob", 2)["wrapped_key"]);
    assert_eq!(mine["missing"], json!([]));
    let (status, _) = cat.put("/api/keys/me", identity(3)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = share(&cat, &room, 1, &["cat"]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "key_exists")
    );
    let (_, seen) = bob.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(seen["missing"], json!(["cat"]));
    let (status, _) = share(&bob, &room, 1, &["cat"]).await;
    assert_eq!(status, StatusCode::OK);
    // A key is never replaced: cat may already have read with the one bob gave.
    let (status, body) = share(&ann, &room, 1, &["cat"]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "key_exists")
    );
    let (_, cats) = cat.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(cats["keys"][0]["wrapped_by"], "bob");

    // Malformed uploads.
    for bad in [
        json!({"key_version": 1, "keys": []}),
        json!({"key_version": 1, "keys": [{"username": "bob", "wrapped_key": "%%", "iv": b64(&[1; 12])}]}),
        json!({"key_version": 1, "keys": [{"username": "bob", "wrapped_key": b64(&[1; 48]), "iv": b64(&[1; 8])}]}),
        json!({"key_version": "1", "keys": [wrapped_for("bob", 1)]}),
        json!({"key_version": 1, "keys": [wrapped_for("bob", 1), wrapped_for("BOB", 2)]}),
    ] {
        let (status, body) = ann
            .put(&format!("/api/rooms/{room}/keys"), bad.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
    }
    // A plain room has no keys.
    let plain = ann.create_room("plain").await;
    let (status, body) = ann.get(&format!("/api/rooms/{plain}/keys/me")).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "not_encrypted")
    );
}

#[tokio::test]
async fn encrypted_rooms_take_ciphertext_as_it_came_and_nothing_in_clear() {
    let server = TestServer::start().await;
    let ann = with_identity(&server, "ann", 1).await;
    let bob = with_identity(&server, "bob", 2).await;
    let room = encrypted_room(&ann, "vault", &[&bob]).await;
    let plain = ann.create_room("plain").await;

    // No key of the current version yet: nothing can be sent.
    let (status, body) = send_sealed(&ann, &room, sealed(1, 5)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "unknown_key_version")
    );
    share(&ann, &room, 1, &["ann", "bob"]).await;

    let mut bob_ws = bob.ws().await;
    bob_ws.join(&room, None, 0).await;
    let mut send = sealed(1, 5);
    send["mentions"] = json!(["bob", "room", "mallory", "BOB"]);
    let (status, message) = send_sealed(&ann, &room, send).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["body"], "");
    assert!(message.get("html").is_none(), "{message}");
    assert_eq!(message["ciphertext"], sealed(1, 5)["ciphertext"]);
    assert_eq!(message["iv"], sealed(1, 5)["iv"]);
    assert_eq!(message["key_version"], 1);
    assert_eq!(message["mentions"], json!(["bob", "room"]));
    let live = bob_ws.recv_type("message").await;
    assert_eq!(live["message"]["ciphertext"], message["ciphertext"]);
    let (_, history) = bob.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(history["messages"][0]["ciphertext"], message["ciphertext"]);
    // Client mentions count like server ones.
    let (_, listed) = bob.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(
        (
            listed["unread_count"].clone(),
            listed["mention_count"].clone()
        ),
        (json!(1), json!(1))
    );

    // Over the WebSocket too.
    let mut frame = sealed(1, 6);
    frame["type"] = json!("send");
    frame["room"] = json!(room);
    frame["nonce"] = json!("n1");
    let mut ann_ws = ann.ws().await;
    ann_ws.join(&room, None, 1).await;
    ann_ws.send_json(frame).await;
    let ack = ann_ws.recv_type("message").await;
    assert_eq!(
        (ack["nonce"].as_str(), ack["message"]["key_version"].clone()),
        (Some("n1"), json!(1))
    );

    let refusals = [
        (json!({"body": "in clear"}), "encrypted_room"),
        (
            json!({"body": "both", "ciphertext": b64(&[1; 40]), "iv": b64(&[1; 12]), "key_version": 1}),
            "invalid_body",
        ),
        (
            json!({"ciphertext": b64(&[1; 40]), "iv": b64(&[1; 12])}),
            "invalid_ciphertext",
        ),
        (
            json!({"ciphertext": "***", "iv": b64(&[1; 12]), "key_version": 1}),
            "invalid_ciphertext",
        ),
        (
            json!({"ciphertext": b64(&[1; 40]), "iv": b64(&[1; 16]), "key_version": 1}),
            "invalid_ciphertext",
        ),
        (
            json!({"ciphertext": b64(&[1; 10]), "iv": b64(&[1; 12]), "key_version": 1}),
            "invalid_ciphertext",
        ),
        (sealed(2, 1), "unknown_key_version"),
        (
            json!({"ciphertext": b64(&[1; 40]), "iv": b64(&[1; 12]), "key_version": 1, "attachments": ["01J00000000000000000000000"]}),
            "encrypted_room",
        ),
    ];
    for (body, code) in refusals {
        let (status, answer) = send_sealed(&ann, &room, body.clone()).await;
        assert_eq!(
            (status, error_code(&answer)),
            (StatusCode::BAD_REQUEST, code),
            "{body}"
        );
    }
    let (status, answer) = send_sealed(&ann, &plain, sealed(1, 1)).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "not_encrypted")
    );
    // The size limit is on the ciphertext: 4 bytes per allowed character and the tag.
    let max = server.state().config.limits.max_message_chars * 4 + 16;
    let mut big = sealed(1, 1);
    big["ciphertext"] = json!(b64(&vec![1u8; max + 1]));
    let (status, answer) = send_sealed(&ann, &room, big).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    big = sealed(1, 1);
    big["ciphertext"] = json!(b64(&vec![1u8; max]));
    let (status, _) = send_sealed(&ann, &room, big).await;
    assert_eq!(status, StatusCode::CREATED);

    // Plain-text features that would put content on the server are refused.
    let (status, answer) = ann
        .post(
            &format!("/api/rooms/{room}/webhooks/incoming"),
            json!({"name": "ci"}),
        )
        .await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "encrypted_room")
    );
    let upload = ann
        .http
        .post(format!(
            "{}/api/rooms/{room}/attachments?name=a.txt",
            ann.base
        ))
        .body("hello");
    let (status, answer) = ann.send(upload).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "encrypted_room")
    );

    // Edits carry new ciphertext; reactions are keyed tokens.
    let id = message["id"].as_str().expect("as set up");
    let path = format!("/api/rooms/{room}/messages/{id}");
    let (status, answer) = ann.patch(&path, json!({"body": "clear"})).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "encrypted_room")
    );
    let (status, edited) = ann.patch(&path, sealed(1, 9)).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["ciphertext"], sealed(1, 9)["ciphertext"]);
    assert!(edited["edited_at"].is_string());
    let token = "v1:AbCdEfGhIjKlMnOpQrStUv";
    let (status, reacted) = bob
        .put(
            &format!("{path}/reactions/{}", urlencode(token)),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reacted}");
    assert_eq!(reacted["reactions"][0]["emoji"], token);
    let (status, answer) = bob
        .put(
            &format!("{path}/reactions/{}", urlencode("👍")),
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "encrypted_room")
    );
    let plain_message = ann.post_message(&plain, "hello").await;
    let plain_path = format!(
        "/api/rooms/{plain}/messages/{}/reactions/{}",
        plain_message["id"].as_str().expect("as set up"),
        urlencode(token)
    );
    let (status, answer) = ann.put(&plain_path, Value::Null).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "invalid_emoji")
    );
    // Deleting erases the ciphertext too.
    let (status, _) = ann.delete(&path).await;
    assert!(status.is_success());
    let (_, history) = ann.get(&format!("/api/rooms/{room}/messages")).await;
    let deleted = &history["messages"][0];
    assert_eq!(deleted["deleted"], true);
    assert!(deleted.get("ciphertext").is_none(), "{deleted}");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn removing_a_member_moves_the_room_to_a_new_key_version_without_them() {
    let server = TestServer::start().await;
    let ann = with_identity(&server, "ann", 1).await;
    let bob = with_identity(&server, "bob", 2).await;
    let cat = with_identity(&server, "cat", 3).await;
    let room = encrypted_room(&ann, "vault", &[&bob, &cat]).await;
    share(&ann, &room, 1, &["ann", "bob", "cat"]).await;
    let (status, _) = send_sealed(&bob, &room, sealed(1, 1)).await;
    assert_eq!(status, StatusCode::CREATED);

    let mut bob_ws = bob.ws().await;
    let (status, body) = ann.delete(&format!("/api/rooms/{room}/members/cat")).await;
    assert!(status.is_success(), "{body}");
    let notice = bob_ws.recv_type("room_key").await;
    assert_eq!(notice["key_version"], 2);
    let (_, view) = ann.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(view["key_version"], 2);

    // The old version can no longer be used; the new one is established without cat.
    let (status, answer) = send_sealed(&bob, &room, sealed(1, 2)).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "unknown_key_version")
    );
    let (status, answer) = share(&bob, &room, 2, &["bob", "cat"]).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::FORBIDDEN, "not_member")
    );
    let (status, _) = share(&bob, &room, 2, &["bob", "ann"]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send_sealed(&ann, &room, sealed(2, 3)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, keys) = ann.get(&format!("/api/rooms/{room}/keys/me")).await;
    let versions: Vec<Value> = keys["keys"]
        .as_array()
        .expect("as set up")
        .iter()
        .map(|k| k["key_version"].clone())
        .collect();
    assert_eq!(versions, vec![json!(1), json!(2)]);

    // cat reads nothing more, and holds nothing any more.
    let (status, _) = cat.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = cat.get(&format!("/api/rooms/{room}/messages")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Added back, cat gets the current key only from a member, and no old version.
    let (status, _) = ann
        .put(&format!("/api/rooms/{room}/members/cat"), Value::Null)
        .await;
    assert!(status.is_success());
    let (_, theirs) = cat.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(
        (theirs["keys"].clone(), theirs["key_version"].clone()),
        (json!([]), json!(2))
    );
    let (_, seen) = ann.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(seen["missing"], json!(["cat"]));

    // A member leaving rotates too.
    let (status, _) = bob.post_empty(&format!("/api/rooms/{room}/leave")).await;
    assert!(status.is_success());
    let (_, view) = ann.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(view["key_version"], 3);
}

#[tokio::test]
async fn a_reset_identity_key_forgets_the_room_keys_wrapped_for_the_old_one() {
    let server = TestServer::start().await;
    let ann = with_identity(&server, "ann", 1).await;
    let bob = with_identity(&server, "bob", 2).await;
    let room = encrypted_room(&ann, "vault", &[&bob]).await;
    share(&ann, &room, 1, &["ann", "bob"]).await;
    let (_, first) = bob.get("/api/keys/me").await;

    // A passphrase change (same public key, rewrapped) keeps everything.
    let mut rewrapped = identity(2);
    rewrapped["wrapped_private_key"] = json!(b64(&[99; 154]));
    let (status, own) = bob.put("/api/keys/me", rewrapped).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own["created_at"], first["created_at"]);
    let (_, kept) = bob.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(kept["keys"].as_array().expect("as set up").len(), 1);

    // A new key pair: the old room keys are useless and gone; members see bob as missing,
    // and are told.
    let mut ann_ws = ann.ws().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, own) = bob.put("/api/keys/me", identity(22)).await;
    assert_eq!(status, StatusCode::OK);
    let notice = ann_ws.recv_type("room_key").await;
    assert_eq!(notice["room"].as_str(), Some(room.as_str()));
    assert_ne!(own["fingerprint"], first["fingerprint"]);
    let (_, gone) = bob.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(gone["keys"], json!([]));
    let (_, seen) = ann.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(seen["missing"], json!(["bob"]));
    let (status, _) = share(&ann, &room, 1, &["bob"]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, back) = bob.get(&format!("/api/rooms/{room}/keys/me")).await;
    assert_eq!(
        back["keys"][0]["wrapper_public_key"],
        public_key(1).as_str()
    );
}

// Multi-threaded: the in-process server answers the CLI while this thread waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_console_marks_encrypted_rooms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let server = TestServer::start_in(data, |_| {}).await;
    let ann = server.user("ann").await;
    encrypted_room(&ann, "vault", &[]).await;
    ann.post("/api/rooms", json!({"name": "notes", "kind": "private"}))
        .await;

    let listed: Value = serde_json::from_str(&ok(&confab(
        data,
        &["room", "list", "--all", "--json"],
        None,
    )))
    .expect("json");
    let encrypted: Vec<(String, bool)> = listed
        .as_array()
        .expect("rooms")
        .iter()
        .map(|room| {
            (
                room["name"].as_str().unwrap_or_default().to_string(),
                room["encrypted"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert!(encrypted.contains(&("vault".into(), true)), "{listed}");
    assert!(encrypted.contains(&("notes".into(), false)), "{listed}");
    let table = ok(&confab(data, &["room", "list", "--all"], None));
    let row = |name: &str| {
        table
            .lines()
            .find(|line| line.contains(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(table
        .lines()
        .next()
        .unwrap_or_default()
        .contains("ENCRYPTED"));
    assert!(row("vault").contains("e2e"), "{table}");
    assert!(!row("notes").contains("e2e"), "{table}");
    server.stop().await;
}
