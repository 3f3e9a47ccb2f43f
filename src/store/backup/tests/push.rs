//! Web Push in backups (format version 5): the VAPID key right after the header, each user's
//! push subscriptions after its sessions and tokens; both checked on reading and restored.

use base64ct::{Base64UrlUnpadded, Encoding};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use tempfile::TempDir;

use super::super::format::from_hex32;
use super::version2::{file_of_version, refused_at, user_line};
use super::{backup, dump, open, populate, save, verify, NOW};
use crate::store::push::endpoint_hash;
use crate::store::{BackupError, PushSubscriptionRecord, Store};

/// A VAPID key: any 32 bytes below the P-256 group order (and not zero) are one.
pub(super) const VAPID_KEY: [u8; 32] = [0x42; 32];

/// Subscription `n` (1 and up): its endpoint, a real P-256 public key and a 16-byte secret.
fn subscription(n: u8) -> PushSubscriptionRecord {
    let browser = p256::SecretKey::from_slice(&[n; 32]).unwrap();
    PushSubscriptionRecord {
        endpoint: format!("https://push.example.org/send/{n}"),
        p256dh: Base64UrlUnpadded::encode_string(&browser.public_key().to_sec1_bytes()),
        auth: Base64UrlUnpadded::encode_string(&[n; 16]),
        created_at_ms: NOW + u64::from(n),
    }
}

/// Subscription numbers in file order: by the SHA-256 of their endpoint.
fn in_file_order(mut numbers: Vec<u8>) -> Vec<u8> {
    numbers.sort_by_key(|n| endpoint_hash(&subscription(*n).endpoint));
    numbers
}

pub(super) fn vapid_key_line(key: &[u8]) -> String {
    vapid_key_text(&Base64UrlUnpadded::encode_string(key))
}

fn vapid_key_text(secret_key: &str) -> String {
    format!(r#"{{"type":"vapid_key","secret_key":"{secret_key}"}}"#)
}

pub(super) fn subscription_line(username: &str, n: u8) -> String {
    record_line(username, &subscription(n))
}

fn record_line(username: &str, record: &PushSubscriptionRecord) -> String {
    format!(
        r#"{{"type":"push_subscription","username":"{username}","record":{}}}"#,
        serde_json::to_string(record).unwrap()
    )
}

/// The server's key, three subscriptions of alice and two of Bob (saved under "bob").
pub(super) fn add_push(store: &Store) {
    store.set_vapid_key(&VAPID_KEY).unwrap();
    for (username, n) in [
        ("alice", 3),
        ("Bob", 5),
        ("alice", 1),
        ("bob", 4),
        ("alice", 2),
    ] {
        assert!(store
            .save_push_subscription(username, subscription(n), 10)
            .unwrap());
    }
}

fn file_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn the_vapid_key_and_every_subscription_back_up_and_restore_into_an_empty_store() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    add_push(&source);
    let (bytes, stats) = backup(&source, true);
    assert_eq!(stats.push_subscriptions, 5);
    assert_eq!((stats.users, stats.sessions, stats.tokens), (4, 3, 3));

    // The key right after the header; each user's subscriptions after its sessions and tokens,
    // by endpoint hash.
    let lines = file_lines(&bytes);
    assert_eq!(lines[1]["type"], "vapid_key");
    let kinds: Vec<String> = lines
        .iter()
        .take_while(|line| line["type"] != "room")
        .map(|line| {
            let kind = line["type"].as_str().unwrap_or("header");
            match kind {
                "user" => format!("user {}", line["record"]["username"].as_str().unwrap()),
                "push_subscription" => format!(
                    "push {} {}",
                    line["username"].as_str().unwrap(),
                    line["record"]["endpoint"].as_str().unwrap()
                ),
                other => other.to_string(),
            }
        })
        .collect();
    let push = |user: &str, n: u8| format!("push {user} {}", subscription(n).endpoint);
    let mut want = vec![
        "header".to_string(),
        "vapid_key".into(),
        "user alice".into(),
    ];
    want.extend(["session".into(), "session".into(), "token".into()]);
    want.extend(
        in_file_order(vec![1, 2, 3])
            .into_iter()
            .map(|n| push("alice", n)),
    );
    want.extend(["user Bob".into(), "session".into()]);
    want.extend(
        in_file_order(vec![4, 5])
            .into_iter()
            .map(|n| push("bob", n)),
    );
    want.extend(["user carol".into(), "user deploy-bot".into()]);
    want.extend(["token".into(), "token".into()]);
    assert_eq!(kinds, want);

    let path = save(&dir, "push.backup", &bytes);
    assert_eq!(verify(&path).unwrap(), stats, "backup verify accepts it");
    let target = open(&dir, "target");
    assert_eq!(target.restore_backup(&path, &mut |_| {}).unwrap(), stats);
    assert_eq!(target.vapid_key().unwrap(), Some(VAPID_KEY.to_vec()));
    assert_eq!(
        target.all_push_subscriptions().unwrap(),
        source.all_push_subscriptions().unwrap()
    );
    assert_eq!(dump(&target), dump(&source));
    // Found by user and by endpoint, as the push service looks them up.
    assert_eq!(target.push_subscriptions_of("BOB").unwrap().len(), 2);
    assert!(target
        .remove_push_subscription("alice", &subscription(2).endpoint)
        .unwrap());
}

#[test]
fn a_store_without_a_key_backs_up_none_and_restores_none() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    // Subscriptions without the key they were bound to could never be pushed to again.
    source
        .save_push_subscription("alice", subscription(1), 10)
        .unwrap();
    let (bytes, stats) = backup(&source, false);
    assert_eq!(stats.push_subscriptions, 0);
    assert!(file_lines(&bytes)
        .iter()
        .all(|line| line["type"] != "vapid_key" && line["type"] != "push_subscription"));

    let target = open(&dir, "target");
    target.set_vapid_key(&[7; 32]).unwrap();
    target
        .restore_backup(&save(&dir, "b", &bytes), &mut |_| {})
        .unwrap();
    assert_eq!(
        target.vapid_key().unwrap(),
        None,
        "the server makes one at start"
    );
    assert!(target.all_push_subscriptions().unwrap().is_empty());
}

/// A valid file: the key, alice with two subscriptions and bob with one.
fn good_lines() -> Vec<String> {
    let alice = in_file_order(vec![1, 2]);
    vec![
        vapid_key_line(&VAPID_KEY),
        user_line("alice"),
        subscription_line("alice", alice[0]),
        subscription_line("alice", alice[1]),
        user_line("bob"),
        subscription_line("bob", 3),
    ]
}

fn counts(users: u64, push_subscriptions: u64) -> String {
    format!(
        r#"{{"users":{users},"sessions":0,"rooms":0,"messages":0,"push_subscriptions":{push_subscriptions}}}"#
    )
}

fn v5(lines: &[String], push_subscriptions: u64) -> Vec<u8> {
    let users = lines
        .iter()
        .filter(|l| l.contains(r#""type":"user""#))
        .count();
    file_of_version(5, lines, &counts(users as u64, push_subscriptions))
}

#[test]
fn subscriptions_follow_their_user_in_endpoint_hash_order_once_each() {
    let stats = super::damaged::check(&v5(&good_lines(), 3)).expect("valid");
    assert_eq!(stats.push_subscriptions, 3);

    // Line numbers count the header: `good_lines()[i]` is line i + 2.
    let mut unordered = good_lines();
    unordered.swap(2, 3);
    refused_at(&v5(&unordered, 3), 5, "out of order");
    let mut repeated = good_lines();
    repeated[3] = repeated[2].clone();
    refused_at(&v5(&repeated, 3), 5, "repeated");
    // Case does not make a repeat different: the key is the lowercase name.
    let mut shouting = good_lines();
    shouting[3] = subscription_line("ALICE", in_file_order(vec![1, 2])[0]);
    refused_at(&v5(&shouting, 3), 5, "repeated");

    let mut unknown_user = good_lines();
    unknown_user[5] = subscription_line("zed", 3);
    refused_at(&v5(&unknown_user, 3), 7, "does not follow its user");
    let mut other_user = good_lines();
    other_user[3] = subscription_line("bob", 4);
    refused_at(&v5(&other_user, 3), 5, "does not follow its user");
    let mut before_users = good_lines();
    before_users.insert(1, subscription_line("alice", 4));
    refused_at(&v5(&before_users, 4), 3, "does not follow its user");
    let room = super::room_id(1);
    let mut after_rooms = good_lines();
    after_rooms.push(format!(
        r#"{{"type":"room","id":"{room}","last_seq":0,"record":{{"id":"{room}","name":"r","created_by":"bob","created_at_ms":1,"expires_at_ms":2}}}}"#
    ));
    after_rooms.push(subscription_line("bob", 4));
    let counts = r#"{"users":2,"sessions":0,"rooms":1,"messages":0,"members":0,"invites":0,"push_subscriptions":4}"#;
    refused_at(
        &file_of_version(5, &after_rooms, counts),
        9,
        "does not follow its user",
    );

    // Sessions and tokens come first.
    let mut session_after = good_lines();
    session_after.insert(
        4,
        format!(
            r#"{{"type":"session","token_sha256":"{}","record":{{"username":"alice","created_at_ms":1,"last_seen_ms":1}}}}"#,
            "ab".repeat(32)
        ),
    );
    refused_at(
        &v5(&session_after, 3),
        6,
        "after its user's push subscriptions",
    );
    let mut token_after = good_lines();
    token_after.insert(
        4,
        format!(
            r#"{{"type":"token","token_sha256":"{}","record":{{"id":"01JD0000000000000000000000","username":"alice","name":"ci","scopes":["read"],"created_at_ms":1}}}}"#,
            "ab".repeat(32)
        ),
    );
    refused_at(
        &v5(&token_after, 3),
        6,
        "after its user's push subscriptions",
    );

    // The trailer counts them.
    refused_at(&v5(&good_lines(), 2), 8, "trailer counts");
}

#[test]
fn subscriptions_with_bad_endpoints_or_keys_are_refused_by_line() {
    let good = subscription(3);
    let point = p256::SecretKey::from_slice(&[3; 32])
        .unwrap()
        .public_key()
        .to_sec1_bytes();
    let mut off_curve = point.to_vec();
    off_curve[64] ^= 1;
    let compressed = p256::SecretKey::from_slice(&[3; 32])
        .unwrap()
        .public_key()
        .to_encoded_point(true);
    let bad: Vec<(PushSubscriptionRecord, &str)> = vec![
        (
            PushSubscriptionRecord {
                endpoint: String::new(),
                ..good.clone()
            },
            "endpoint",
        ),
        (
            PushSubscriptionRecord {
                endpoint: format!("https://push.example.org/{}", "a".repeat(2048)),
                ..good.clone()
            },
            "endpoint",
        ),
        (
            PushSubscriptionRecord {
                p256dh: Base64UrlUnpadded::encode_string(&point[..64]),
                ..good.clone()
            },
            "p256dh",
        ),
        (
            PushSubscriptionRecord {
                p256dh: Base64UrlUnpadded::encode_string(&off_curve),
                ..good.clone()
            },
            "p256dh",
        ),
        (
            PushSubscriptionRecord {
                p256dh: Base64UrlUnpadded::encode_string(compressed.as_bytes()),
                ..good.clone()
            },
            "p256dh",
        ),
        (
            PushSubscriptionRecord {
                p256dh: format!("{}=", good.p256dh),
                ..good.clone()
            },
            "p256dh",
        ),
        (
            PushSubscriptionRecord {
                auth: Base64UrlUnpadded::encode_string(&[3; 15]),
                ..good.clone()
            },
            "auth",
        ),
        (
            PushSubscriptionRecord {
                auth: "%%%%%%%%%%%%%%%%%%%%%%".into(),
                ..good.clone()
            },
            "auth",
        ),
    ];
    for (record, what) in bad {
        let mut lines = good_lines();
        lines[5] = record_line("bob", &record);
        refused_at(&v5(&lines, 3), 7, what);
    }
    // An endpoint of exactly 2048 bytes is fine.
    let mut lines = good_lines();
    let longest = PushSubscriptionRecord {
        endpoint: format!("https://{}", "a".repeat(2040)),
        ..good
    };
    assert_eq!(longest.endpoint.len(), 2048);
    lines[5] = record_line("bob", &longest);
    assert!(super::damaged::check(&v5(&lines, 3)).is_ok());
}

#[test]
fn a_bad_or_misplaced_vapid_key_is_refused_and_restores_nothing() {
    // The group order n of P-256: n and above, and zero, are not secret keys.
    let order =
        from_hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
    let mut below_order = order;
    below_order[31] -= 1;
    assert!(
        super::damaged::check(&v5(&[vapid_key_line(&below_order), user_line("alice")], 0)).is_ok()
    );
    let cases = [
        (vapid_key_text("not base64!"), "base64url"),
        (
            vapid_key_text(&format!(
                "{}=",
                Base64UrlUnpadded::encode_string(&VAPID_KEY)
            )),
            "base64url",
        ),
        (vapid_key_line(&[0x42; 31]), "31 bytes, not 32"),
        (vapid_key_line(&[0x42; 24]), "24 bytes, not 32"),
        (vapid_key_line(&[0x42; 33]), "33 bytes, not 32"),
        (vapid_key_line(&[0; 32]), "not a P-256 secret key"),
        (vapid_key_line(&[0xff; 32]), "not a P-256 secret key"),
        (vapid_key_line(&order), "not a P-256 secret key"),
    ];
    let dir = TempDir::new().unwrap();
    let target = open(&dir, "target");
    target.set_vapid_key(&[7; 32]).unwrap();
    for (index, (line, want)) in cases.into_iter().enumerate() {
        let mut lines = good_lines();
        lines[0] = line;
        let bytes = v5(&lines, 3);
        refused_at(&bytes, 2, want);
        let path = save(&dir, &format!("bad-key-{index}"), &bytes);
        match target.restore_backup(&path, &mut |_| {}) {
            Err(BackupError::Format { line: 2, reason }) => {
                assert!(reason.contains("VAPID key"), "{reason}");
            }
            other => panic!("expected a format error at line 2, got {other:?}"),
        }
        assert!(target.is_empty().unwrap());
        assert_eq!(target.vapid_key().unwrap(), Some(vec![7; 32]), "untouched");
    }

    // One, right after the header; subscriptions need it.
    let mut twice = good_lines();
    twice.insert(1, vapid_key_line(&VAPID_KEY));
    refused_at(&v5(&twice, 3), 3, "VAPID key line out of place");
    let mut after_user = good_lines();
    after_user.swap(0, 1);
    refused_at(&v5(&after_user, 3), 3, "VAPID key line out of place");
    let mut keyless = good_lines();
    keyless.remove(0);
    refused_at(&v5(&keyless, 3), 3, "without the VAPID key");
    let no_push = [vapid_key_line(&VAPID_KEY), user_line("alice")];
    let stats = super::damaged::check(&v5(&no_push, 0)).expect("a key and no subscriptions");
    assert_eq!(stats.push_subscriptions, 0);
}
