//! Strict JSON types: a request body value of another JSON type than the API documents (a number
//! or boolean for a string, a string for an integer, a string for an array...) is refused with
//! 400 `bad_request` naming the field, and changes nothing.
//!
//! The routes and their fields are read from the served OpenAPI document, so a new route or
//! field is checked the day it is added; the test then asks for a valid example body here, which
//! it also sends to prove that the refusals were about the types and nothing else. Also: what
//! query parameters do with text that is not their type, and the WebSocket frames.

mod common;

use common::{error_code, identity_key, Client, TestServer, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// alice (admin) owns `room`, a private room bob is not in yet; `public` is a public room.
struct Fixture {
    server: TestServer,
    alice: Client,
    bob: Client,
    room: String,
    public: String,
    /// A message of `room`, by alice.
    message: String,
    /// The secret of an incoming webhook of `room`.
    hook_secret: String,
    /// An end-to-end encrypted room of alice (bob and she have identity keys), whose key
    /// version 1 nobody holds yet.
    vault: String,
}

impl Fixture {
    async fn start() -> Self {
        // Outgoing webhooks may point at 127.0.0.1 (the example's URL: nothing listens there).
        // Push endpoints too (the example's subscription points at 127.0.0.1).
        let server = TestServer::start_with(|config| {
            config.integrations.allowed_networks = vec!["127.0.0.1/32".into()];
            config.push.allow_insecure_endpoints = true;
        })
        .await;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let (status, body) = alice
            .post(
                "/api/rooms",
                json!({"name": "strict fixture", "kind": "private"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let room = body["id"].as_str().expect("room id").to_string();
        let public = alice.create_room("strict public").await;
        // alice is the first account, so an admin: she makes the bot the bot routes name.
        let (status, body) = alice
            .post("/api/bots", json!({"username": "strict-bot"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let message = alice.post_message(&room, "strict first").await;
        let message = message["id"].as_str().expect("message id").to_string();
        let (status, hook) = alice
            .post(
                &format!("/api/rooms/{room}/webhooks/incoming"),
                json!({"name": "strict hook"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        let url = hook["url"].as_str().expect("url");
        let hook_secret = url[url.rfind('/').expect("slash") + 1..].to_string();
        for client in [&alice, &bob] {
            let (status, body) = client.put("/api/keys/me", identity_key(8)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (status, body) = alice
            .post(
                "/api/rooms",
                json!({"name": "strict vault", "kind": "private", "encrypted": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Its key version 1 is established by the example body, sent last.
        let vault = body["id"].as_str().expect("room id").to_string();
        // Subscribed already, so the DELETE example (which comes before the POST) succeeds.
        let (status, body) = alice
            .post("/api/push/subscriptions", push_subscription_example())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Self {
            server,
            alice,
            bob,
            room,
            public,
            message,
            hook_secret,
            vault,
        }
    }

    /// `template` (an OpenAPI path such as `/rooms/{id}/members/{username}`) as a request path.
    fn path(&self, template: &str) -> String {
        let filled: Vec<String> = template
            .split('/')
            .map(|segment| match segment {
                "{id}" if template.ends_with("/keys") => self.vault.clone(),
                "{id}" => self.room.clone(),
                "{username}" if template.starts_with("/bots/") => "strict-bot".to_string(),
                "{username}" => "bob".to_string(),
                "{message}" => self.message.clone(),
                "{secret}" => self.hook_secret.clone(),
                "{hook}" => "01JF0000000000000000000000".to_string(),
                other if other.starts_with('{') => {
                    panic!("no value for the path parameter {other} of {template}: add one to Fixture::path")
                }
                other => other.to_string(),
            })
            .collect();
        format!("/api{}", filled.join("/"))
    }

    /// What alice and bob can see: any change a request made shows up here.
    async fn snapshot(&self) -> Vec<Value> {
        let room = &self.room;
        let mut seen = Vec::new();
        for path in [
            "/api/rooms".to_string(),
            format!("/api/rooms/{room}"),
            format!("/api/rooms/{room}/messages?limit=200"),
            format!("/api/rooms/{room}/members"),
            format!("/api/rooms/{room}/invites"),
            "/api/users?limit=50".to_string(),
        ] {
            let (status, body) = self.alice.get(&path).await;
            assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
            seen.push(body);
        }
        let (status, body) = self.bob.get("/api/rooms").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.push(body);
        seen
    }
}

/// An operation of the OpenAPI document that takes a JSON request body.
struct Operation {
    method: Method,
    template: String,
    /// The body's object schema, `$ref`s resolved at the top.
    schema: Value,
    /// Whether the body may be left out (then `null` is fine too).
    body_required: bool,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    match schema["allOf"].as_array() {
        Some(parts) if schema.get("type").is_none() => resolve(doc, &parts[0]),
        _ => schema,
    }
}

/// Every operation of the document with a request body.
fn operations_with_bodies(doc: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (template, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let Some(request) = operation.get("requestBody") else {
                continue;
            };
            let content = request["content"].as_object().expect("content");
            if content.contains_key("application/octet-stream") {
                // A file upload: bytes (or a multipart form), no JSON fields to mistype.
                assert_eq!(template, "/rooms/{id}/attachments", "{method} {template}");
                continue;
            }
            assert_eq!(content.len(), 1, "{method} {template}: {content:?}");
            let (media_type, media) = content.iter().next().expect("one media type");
            assert!(
                media_type.starts_with("application/json"),
                "{method} {template} takes {media_type}: teach this test about it"
            );
            found.push(Operation {
                method: Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                template: template.clone(),
                schema: resolve(doc, &media["schema"]).clone(),
                body_required: request["required"] == true,
            });
        }
    }
    found
}

/// A browser's push subscription with a real P-256 point (from a fixed secret key).
fn push_subscription_example() -> Value {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).expect("a valid scalar");
    json!({
        "endpoint": PUSH_ENDPOINT,
        "keys": {
            "p256dh": Base64UrlUnpadded::encode_string(&secret.public_key().to_sec1_bytes()),
            "auth": Base64UrlUnpadded::encode_string(&[9u8; 16]),
        },
        "expirationTime": 1_900_000_000_000.0,
    })
}

const PUSH_ENDPOINT: &str = "http://127.0.0.1:9/push/strict";

/// Key version 1 of the vault, wrapped for alice.
fn room_keys_example() -> Value {
    use base64ct::{Base64, Encoding};
    json!({"key_version": 1, "keys": [{
        "username": "alice",
        "wrapped_key": Base64::encode_string(&[4u8; 48]),
        "iv": Base64::encode_string(&[5u8; 12]),
    }]})
}

/// Fields an example leaves out because they are the other form of the same request (the
/// ciphertext of a message in an encrypted room, where the fixture's room is plain): their
/// wrong types are still sent and refused.
fn alternative_fields(operation: &str) -> &'static [&'static str] {
    match operation {
        "POST /rooms/{id}/messages" | "PATCH /rooms/{id}/messages/{message}" => {
            &["ciphertext", "iv", "key_version"]
        }
        _ => &[],
    }
}

/// A body every documented field of which is set and valid, for each operation that takes
/// one: sent last, it must succeed.
fn example_body(operation: &str, message: &str) -> Value {
    match operation {
        "POST /auth/register" => json!({"username": "carol", "password": PASSWORD}),
        "POST /auth/login" => json!({"username": "alice", "password": PASSWORD}),
        "POST /rooms" => json!({
            "name": "strict new", "kind": "private", "topic": "a topic", "encrypted": false,
        }),
        "PATCH /rooms/{id}" => json!({"name": "strict renamed", "topic": "another topic"}),
        "POST /rooms/{id}/messages" => {
            json!({
                "body": "hello", "nonce": "strict-1", "reply_to": message, "attachments": [],
                "mentions": [],
            })
        }
        "PATCH /rooms/{id}/messages/{message}" => json!({"body": "edited"}),
        "PUT /rooms/{id}/members/{username}" => json!({"role": "member"}),
        "POST /rooms/{id}/invites" => json!({"max_uses": 5, "expires_in": 3600}),
        "POST /dms" => json!({"users": ["bob"], "encrypted": false}),
        "PUT /keys/me" => identity_key(8),
        "PUT /rooms/{id}/keys" => room_keys_example(),
        "POST /tokens" | "POST /bots/{username}/tokens" => {
            json!({"name": "strict", "scopes": ["read", "write"], "expires_in": 3600})
        }
        "POST /bots" => json!({"username": "strict-bot-2", "owner": "alice"}),
        "POST /rooms/{id}/webhooks/incoming" => json!({"name": "strict CI"}),
        "PUT /rooms/{id}/read" => json!({"message": message}),
        "PUT /rooms/{id}/notifications" => json!({"level": "all"}),
        "POST /rooms/{id}/webhooks/outgoing" => json!({
            "url": "http://127.0.0.1:9/hook",
            "events": ["message"],
            "trigger_words": ["!strict"],
            "name": "strict out",
        }),
        "POST /hooks/{secret}" => {
            json!({"body": "from a hook", "text": "ignored", "username": "Strict CI"})
        }
        "POST /push/subscriptions" => push_subscription_example(),
        "DELETE /push/subscriptions" => json!({"endpoint": PUSH_ENDPOINT}),
        other => panic!("{other} takes a JSON body: add a valid example for it to example_body"),
    }
}

/// JSON values that are not of the documented type `schema` (with `null` when the field must
/// be present), each with the path the error must name.
fn wrong_values(doc: &Value, field: &str, schema: &Value, required: bool) -> Vec<(String, Value)> {
    let schema = resolve(doc, schema);
    let ty = schema["type"]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` has no type in {schema}: teach this test about it"));
    let mut values = match ty {
        "string" => vec![
            json!(5),
            json!(0),
            json!(-1.5),
            json!(true),
            json!(false),
            json!(["text"]),
            json!({"text": "text"}),
        ],
        "integer" => vec![
            json!("5"),
            json!(""),
            json!(5.5),
            json!(true),
            json!([5]),
            json!({"n": 5}),
        ],
        "number" => vec![json!("5"), json!(true), json!([5]), json!({})],
        "boolean" => vec![json!("true"), json!(1), json!(0), json!([true]), json!({})],
        "array" => vec![json!("bob"), json!(5), json!(true), json!({"0": "bob"})],
        "object" => vec![json!("text"), json!(5), json!(true), json!([])],
        other => panic!("`{field}` has type {other}: teach this test about it"),
    };
    if required {
        values.push(Value::Null);
    }
    let mut cases: Vec<(String, Value)> = values
        .into_iter()
        .map(|value| (field.to_string(), value))
        .collect();
    if ty == "array" {
        // One good item, then a wrong one: the error names the item.
        let item = &schema["items"];
        let good = match resolve(doc, item)["type"].as_str() {
            Some("string") => json!("bob"),
            Some("integer") | Some("number") => json!(1),
            Some("boolean") => json!(true),
            _ => json!({}),
        };
        for (_, wrong) in wrong_values(doc, "item", item, true) {
            cases.push((format!("{field}[1]"), json!([good.clone(), wrong])));
        }
    }
    cases
}

async fn send(client: &Client, method: &Method, path: &str, body: &Value) -> (StatusCode, Value) {
    let request = client
        .http
        .request(method.clone(), format!("{}{path}", client.base))
        .json(body);
    client.send(request).await
}

fn assert_refused(what: &str, status: StatusCode, answer: &Value, names: Option<&str>) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
    assert_eq!(error_code(answer), "bad_request", "{what}: {answer}");
    if let Some(field) = names {
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{field}`")),
            "{what}: the message must name `{field}`: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_body_field_refuses_every_wrong_json_type() {
    let fixture = Fixture::start().await;
    let (status, doc) = fixture.alice.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let operations = operations_with_bodies(&doc);
    let mut names: Vec<String> = operations.iter().map(Operation::name).collect();
    names.sort();
    // Guards the enumeration itself: these are the bodies the API had when this test was written.
    for known in [
        "POST /auth/register",
        "POST /auth/login",
        "POST /rooms",
        "PATCH /rooms/{id}",
        "POST /rooms/{id}/messages",
        "PUT /rooms/{id}/members/{username}",
        "POST /rooms/{id}/invites",
        "POST /dms",
    ] {
        assert!(
            names.iter().any(|n| n == known),
            "{known} not found in {names:?}"
        );
    }

    let alice = &fixture.alice;
    for operation in &operations {
        let name = operation.name();
        let path = fixture.path(&operation.template);
        let example = example_body(&name, &fixture.message);
        let properties = operation.schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: the body is not an object schema"));
        let mut documented: Vec<&String> = properties
            .keys()
            .filter(|field| !alternative_fields(&name).contains(&field.as_str()))
            .collect();
        let mut exemplified: Vec<&String> = example.as_object().expect("object").keys().collect();
        documented.sort();
        exemplified.sort();
        assert_eq!(
            documented, exemplified,
            "{name}: example_body must set every field"
        );
        let required: Vec<&str> = operation.schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();

        let before = fixture.snapshot().await;
        let mut sent = 0;
        for (field, schema) in properties {
            let is_required = required.contains(&field.as_str());
            for (names, mut wrong) in wrong_values(&doc, field, schema, is_required) {
                // A good item of an array of objects is the example's, whose fields are set.
                if let (Some(pair), Some(good)) = (wrong.as_array_mut(), example[field].get(0)) {
                    if pair.len() == 2 && pair[0] == json!({}) {
                        pair[0] = good.clone();
                    }
                }
                let mut body = example.clone();
                body[field.as_str()] = wrong;
                let (status, answer) = send(alice, &operation.method, &path, &body).await;
                assert_refused(&format!("{name} {body}"), status, &answer, Some(&names));
                sent += 1;
            }
        }
        let mut whole_bodies = vec![
            json!(5),
            json!("text"),
            json!(true),
            json!([example.clone()]),
        ];
        if operation.body_required {
            whole_bodies.push(Value::Null);
        }
        for body in whole_bodies {
            let (status, answer) = send(alice, &operation.method, &path, &body).await;
            assert_refused(&format!("{name} {body}"), status, &answer, None);
            sent += 1;
        }
        assert!(sent > 0);
        assert_eq!(
            fixture.snapshot().await,
            before,
            "{name}: a refused request changed something"
        );

        let (status, answer) = send(alice, &operation.method, &path, &example).await;
        assert!(
            status.is_success(),
            "{name}: the example body itself must succeed: {status} {answer}"
        );
    }
    fixture.server.stop().await;
}

/// The cases the issue names, with the exact messages: the field, the type expected and the
/// type found, never the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_get_messages_that_name_field_and_type() {
    let fixture = Fixture::start().await;
    let alice = &fixture.alice;
    let room = &fixture.room;
    let anonymous = fixture.server.client();
    let cases = [
        (
            anonymous
                .post(
                    "/api/auth/register",
                    json!({"username": true, "password": PASSWORD}),
                )
                .await,
            "`username` must be a string, not a boolean",
        ),
        (
            anonymous
                .post(
                    "/api/auth/login",
                    json!({"username": "alice", "password": 12_345_678}),
                )
                .await,
            "`password` must be a string, not a number",
        ),
        (
            alice
                .post(&format!("/api/rooms/{room}/messages"), json!({"body": 5}))
                .await,
            "`body` must be a string, not a number",
        ),
        (
            alice
                .post("/api/rooms", json!({"name": "numbers", "kind": 7}))
                .await,
            "`kind` must be a string, not a number",
        ),
        (
            alice
                .post(
                    &format!("/api/rooms/{room}/invites"),
                    json!({"max_uses": "5"}),
                )
                .await,
            "`max_uses` must be an integer, not a string",
        ),
        (
            alice
                .post(
                    &format!("/api/rooms/{room}/invites"),
                    json!({"max_uses": -1}),
                )
                .await,
            "`max_uses` must be an integer from 0 to 4294967295",
        ),
        (
            alice
                .post(
                    &format!("/api/rooms/{room}/invites"),
                    json!({"expires_in": 3600.5}),
                )
                .await,
            "`expires_in` must be an integer, not a number with a fraction or exponent",
        ),
        (
            alice.post("/api/dms", json!({"users": "bob"})).await,
            "`users` must be an array, not a string",
        ),
        (
            alice.post("/api/dms", json!({"users": ["bob", 5]})).await,
            "`users[1]` must be a string, not a number",
        ),
        (
            alice.post("/api/dms", json!({})).await,
            "`users` is required",
        ),
        (
            alice
                .put(
                    &format!("/api/rooms/{room}/members/bob"),
                    json!({"role": false}),
                )
                .await,
            "`role` must be a string, not a boolean",
        ),
        (
            alice
                .patch(&format!("/api/rooms/{room}"), json!({"topic": ["a"]}))
                .await,
            "`topic` must be a string, not an array",
        ),
        (
            alice.post("/api/rooms", json!("general")).await,
            "the request body must be an object, not a string",
        ),
    ];
    for ((status, answer), message) in cases {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(error_code(&answer), "bad_request", "{answer}");
        assert_eq!(answer["error"]["message"], message);
    }

    // Malformed JSON is the same 400, and an optional body may still be `null`.
    let request = alice
        .http
        .post(format!("{}/api/rooms", alice.base))
        .header("content-type", "application/json")
        .body("{\"name\": ");
    let (status, answer) = alice.send(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(error_code(&answer), "bad_request");
    let (status, answer) = alice
        .post(&format!("/api/rooms/{room}/invites"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    fixture.server.stop().await;
}

/// Query parameters are text, so there is no JSON type to get wrong: a string parameter takes
/// any text (`q=5` is the text "5"), and integer and boolean parameters refuse text that is not
/// one with 400 `bad_request` naming the parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_refuse_text_that_is_not_their_type() {
    let fixture = Fixture::start().await;
    let alice = &fixture.alice;
    let room = &fixture.room;
    for (path, parameter) in [
        ("/api/rooms?member=5".to_string(), "member"),
        ("/api/rooms?member=yes".to_string(), "member"),
        ("/api/rooms?member=1".to_string(), "member"),
        ("/api/users?limit=abc".to_string(), "limit"),
        ("/api/users?limit=5.0".to_string(), "limit"),
        ("/api/users?limit=true".to_string(), "limit"),
        (format!("/api/rooms/{room}/messages?limit=1e2"), "limit"),
        (format!("/api/rooms/{room}/messages?limit=-1"), "limit"),
        (format!("/api/rooms/{room}/messages?before=5"), "before"),
    ] {
        let (status, answer) = alice.get(&path).await;
        assert_refused(&path, status, &answer, None);
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(parameter), "{path}: {answer}");
    }
    for path in [
        "/api/rooms?member=true",
        "/api/rooms?member=false",
        "/api/users?limit=5",
        "/api/users?q=5",
        "/api/users?q=true",
    ] {
        let (status, answer) = alice.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    fixture.server.stop().await;
}

/// WebSocket frames are parsed by serde, which does not coerce either: each wrong type gets an
/// `error` frame with `bad_request`, nothing is stored, and the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_frames_refuse_wrong_json_types() {
    let fixture = Fixture::start().await;
    let room = fixture.public.as_str();
    let mut ws = fixture.alice.ws().await;
    ws.join(room, None, 0).await;
    for frame in [
        json!({"type": "send", "room": room, "body": 5}),
        json!({"type": "send", "room": room, "body": true}),
        json!({"type": "send", "room": room, "body": ["hi"]}),
        json!({"type": "send", "room": room, "body": "hi", "nonce": 7}),
        json!({"type": "send", "room": 5, "body": "hi"}),
        json!({"type": "join", "room": room, "after": 5}),
        json!({"type": "join", "room": [room]}),
        json!({"type": "leave", "room": true}),
        json!({"type": "typing", "room": 1}),
        json!({"type": 5}),
    ] {
        ws.send_json(frame.clone()).await;
        let answer = ws.recv_type("error").await;
        assert_eq!(answer["code"], "bad_request", "{frame}: {answer}");
    }
    let (status, page) = fixture
        .alice
        .get(&format!("/api/rooms/{room}/messages"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["messages"],
        json!([]),
        "a refused frame stored a message"
    );

    ws.send_json(json!({"type": "send", "room": room, "body": "still here", "nonce": "n1"}))
        .await;
    let message = ws.recv_type("message").await;
    assert_eq!(message["message"]["body"], "still here");
    fixture.server.stop().await;
}
