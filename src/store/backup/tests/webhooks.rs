//! Webhooks in backups (format version 4): written after their room's invites, checked on
//! reading, restored into both of their trees; their deliveries are left out.

use tempfile::TempDir;

use super::version2::{file_of_version, refused_at, user_line};
use super::{add_room, backup, message, open, populate, room_id, save, verify, NOW};
use crate::ids::RoomId;
use crate::store::{
    BackupError, BackupOptions, DeliveryRecord, DeliveryStatus, Store, WebhookId, WebhookKind,
    WebhookRecord, WebhookStamp,
};

/// Secret hashes of the incoming webhooks of [`add_webhooks`].
const ALERTS_SECRET: [u8; 32] = [0x21; 32];
const PAGER_SECRET: [u8; 32] = [0x22; 32];

fn hook_ulid(n: u8) -> ulid::Ulid {
    ulid::Ulid::from_parts(NOW + u64::from(n), u128::from(n))
}

fn hook(n: u8) -> WebhookId {
    hook_ulid(n).to_bytes()
}

fn incoming(n: u8, name: &str) -> WebhookRecord {
    WebhookRecord {
        id: hook_ulid(n).to_string(),
        name: name.to_string(),
        created_by: "alice".into(),
        created_at_ms: NOW + u64::from(n),
        last_used_at_ms: Some(NOW + 100),
        kind: WebhookKind::Incoming,
    }
}

fn outgoing(n: u8, cursor: u64) -> WebhookRecord {
    WebhookRecord {
        id: hook_ulid(n).to_string(),
        name: "ci".into(),
        created_by: "alice".into(),
        created_at_ms: NOW + u64::from(n),
        last_used_at_ms: None,
        kind: WebhookKind::Outgoing {
            url: "https://ci.example.org/confab".into(),
            events: vec!["message".into()],
            trigger_words: vec!["!deploy".into(), "build".into()],
            secret: "whsec_3b7f9c".into(),
            cursor,
        },
    }
}

/// How a message posted through the "alerts" webhook is stamped.
pub(super) fn stamp() -> WebhookStamp {
    WebhookStamp {
        id: hook_ulid(1).to_string(),
        name: "alerts".into(),
    }
}

/// An outgoing webhook (5 messages handed on, a delivery still queued) and an incoming one in
/// "general", an incoming one in the private room "plans".
pub(super) fn add_webhooks(store: &Store) {
    // The outgoing one first: the file lists a room's webhooks by id, not by insertion.
    store
        .insert_webhook(room_id(2), hook(2), &outgoing(2, 0), None)
        .unwrap();
    store
        .insert_webhook(
            room_id(2),
            hook(1),
            &incoming(1, "alerts"),
            Some(&ALERTS_SECRET),
        )
        .unwrap();
    store
        .insert_webhook(
            room_id(5),
            hook(3),
            &incoming(3, "pager"),
            Some(&PAGER_SECRET),
        )
        .unwrap();
    let delivery = DeliveryRecord {
        id: ulid::Ulid::from_parts(NOW, 0x31).to_string(),
        event: "message".into(),
        message: 5,
        created_at_ms: NOW,
        status: DeliveryStatus::Retrying,
        attempts: 2,
        last_attempt_at_ms: Some(NOW + 1),
        next_attempt_at_ms: Some(NOW + 60_000),
        response_status: Some(503),
        error: None,
        payload: "{}".into(),
    };
    let queued = [([0x31; 16], delivery)];
    assert!(store
        .queue_deliveries(room_id(2), hook(2), 0, 5, &queued)
        .unwrap());
}

#[test]
fn webhooks_survive_create_verify_and_restore_into_an_empty_directory() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    assert!(!source.deliveries.is_empty() && !source.delivery_queue.is_empty());

    let path = dir.path().join("confab.backup");
    let file = std::fs::File::create(&path).unwrap();
    let written = source
        .write_backup(file, BackupOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(written.webhooks, 3);
    assert_eq!(verify(&path).unwrap(), written);
    let target = open(&dir, "restored");
    assert!(target.is_empty().unwrap());
    assert_eq!(target.restore_backup(&path, &mut |_| {}).unwrap(), written);

    // Incoming webhooks are found again by the hash of their secret.
    assert_eq!(
        target.incoming_webhook(&ALERTS_SECRET).unwrap(),
        Some((room_id(2), incoming(1, "alerts")))
    );
    assert_eq!(
        target.incoming_webhook(&PAGER_SECRET).unwrap(),
        Some((room_id(5), incoming(3, "pager")))
    );
    assert_eq!(target.incoming_webhook(&[0x23; 32]).unwrap(), None);
    assert_eq!(target.incoming_hooks.len(), 2);
    // The outgoing one keeps its signing secret, trigger words and cursor.
    let ci = target.webhook(room_id(2), hook(2)).unwrap().unwrap();
    assert_eq!(ci, outgoing(2, 5));
    match &ci.kind {
        WebhookKind::Outgoing {
            trigger_words,
            secret,
            cursor,
            ..
        } => {
            assert_eq!((secret.as_str(), *cursor), ("whsec_3b7f9c", 5));
            assert_eq!(trigger_words, &["!deploy", "build"]);
        }
        WebhookKind::Incoming => panic!("restored as incoming"),
    }
    assert_eq!(target.outgoing_webhooks().unwrap(), vec![(room_id(2), ci)]);
    let names: Vec<String> = target
        .webhooks_of(room_id(2))
        .unwrap()
        .into_iter()
        .map(|hook| hook.name)
        .collect();
    assert_eq!(names, ["alerts", "ci"]);
    // Deliveries are transient: the cursor says messages 1 to 5 were handed on already.
    assert!(target.deliveries.is_empty() && target.delivery_queue.is_empty());
    assert_eq!(target.next_delivery_due().unwrap(), None);
    // A message posted through a webhook keeps its stamp.
    let posted = target.message(room_id(2), 5).unwrap().unwrap();
    assert_eq!(posted.webhook, Some(stamp()));
    assert_eq!(posted, source.message(room_id(2), 5).unwrap().unwrap());
}

#[test]
fn webhook_lines_have_their_documented_shape_and_place() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    let room = room_id(1);
    add_room(&store, room, "hooks", NOW + 3_600_000, NOW);
    for seq in 1..=2 {
        store
            .insert_message(room, seq, &message("alice", seq, None))
            .unwrap();
    }
    store
        .insert_webhook(room, hook(2), &outgoing(2, 2), None)
        .unwrap();
    store
        .insert_webhook(room, hook(1), &incoming(1, "alerts"), Some(&[0xab; 32]))
        .unwrap();
    let (bytes, stats) = backup(&store, false);
    assert_eq!(stats.webhooks, 2);
    let text = String::from_utf8(bytes).unwrap();
    let parsed: Vec<serde_json::Value> = text
        .lines()
        .skip(1)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let types: Vec<&str> = parsed
        .iter()
        .map(|line| line["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["room", "member", "webhook", "webhook", "message", "message", "end"]
    );
    assert_eq!(parsed[6]["counts"]["webhooks"], 2);
    let (a, b) = (hook_ulid(1), hook_ulid(2));
    let want = [
        format!(
            r#"{{"type":"webhook","room":"{room}","id":"{a}","secret_sha256":"{}","record":{{"id":"{a}","name":"alerts","created_by":"alice","created_at_ms":{},"last_used_at_ms":{},"kind":"incoming"}}}}"#,
            "ab".repeat(32),
            NOW + 1,
            NOW + 100
        ),
        format!(
            r#"{{"type":"webhook","room":"{room}","id":"{b}","record":{{"id":"{b}","name":"ci","created_by":"alice","created_at_ms":{},"kind":"outgoing","url":"https://ci.example.org/confab","events":["message"],"trigger_words":["!deploy","build"],"secret":"whsec_3b7f9c","cursor":2}}}}"#,
            NOW + 2
        ),
    ];
    let got: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with(r#"{"type":"webhook""#))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn an_outgoing_cursor_past_the_rooms_snapshot_is_brought_back_to_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    let room = room_id(1);
    add_room(&store, room, "busy", NOW + 3_600_000, NOW);
    for seq in 1..=3 {
        store
            .insert_message(room, seq, &message("alice", seq, None))
            .unwrap();
    }
    // As if messages 4 and 5 were sent and handed on after the backup took its mark.
    store
        .insert_webhook(room, hook(2), &outgoing(2, 5), None)
        .unwrap();
    let (bytes, _) = backup(&store, false);
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "b", &bytes), &mut |_| {})
        .unwrap();
    // The restored room numbers its next message 4 again: it must be delivered.
    assert_eq!(target.last_seq(room).unwrap(), 3);
    assert_eq!(target.webhook(room, hook(2)).unwrap(), Some(outgoing(2, 3)));
}

#[test]
fn an_incoming_webhook_whose_secret_is_not_indexed_is_left_out() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    add_room(&store, room_id(1), "r", NOW + 3_600_000, NOW);
    // What an incoming webhook created after the backup read the secret index looks like.
    store
        .insert_webhook(room_id(1), hook(1), &incoming(1, "late"), None)
        .unwrap();
    store
        .insert_webhook(room_id(1), hook(2), &outgoing(2, 0), None)
        .unwrap();
    let (bytes, stats) = backup(&store, false);
    assert_eq!(stats.webhooks, 1);
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "b", &bytes), &mut |_| {})
        .unwrap();
    assert_eq!(target.webhooks_of(room_id(1)).unwrap(), [outgoing(2, 0)]);
}

const A: &str = "01JD0000000000000000000001";
const B: &str = "01JD0000000000000000000002";
const INCOMING: &str = r#""kind":"incoming""#;
const COUNTS: &str = r#"{"users":1,"sessions":0,"rooms":1,"messages":1,"members":1,"invites":1,"tokens":0,"webhooks":2}"#;

fn outgoing_kind(cursor: u64) -> String {
    format!(
        r#""kind":"outgoing","url":"https://ci.example.org/hook","events":["message"],"secret":"s","cursor":{cursor}"#
    )
}

pub(super) fn webhook_line(room: RoomId, id: &str, secret: Option<&str>, kind: &str) -> String {
    let secret = secret
        .map(|hex| format!(r#""secret_sha256":"{hex}","#))
        .unwrap_or_default();
    format!(
        r#"{{"type":"webhook","room":"{room}","id":"{id}",{secret}"record":{{"id":"{id}","name":"n","created_by":"alice","created_at_ms":1,{kind}}}}}"#
    )
}

/// A valid version 4 file's lines (after its header): line 2 a user, 3 a room, 4 its member,
/// 5 an invite, 6 an incoming webhook, 7 an outgoing one, 8 a message; 9 is the trailer.
fn lines() -> Vec<String> {
    let room = room_id(1);
    let secret = "ab".repeat(32);
    vec![
        user_line("alice"),
        format!(
            r#"{{"type":"room","id":"{room}","last_seq":1,"record":{{"id":"{room}","name":"plans","created_by":"alice","created_at_ms":1,"expires_at_ms":2,"kind":"private","member_count":1}}}}"#
        ),
        format!(
            r#"{{"type":"member","room":"{room}","username":"alice","record":{{"role":"owner","joined_at_ms":1}}}}"#
        ),
        format!(
            r#"{{"type":"invite","room":"{room}","code_sha256":"{}","record":{{"id":"0101010101010101","room":"{room}","created_by":"alice","created_at_ms":1,"expires_at_ms":2}}}}"#,
            "cd".repeat(32)
        ),
        webhook_line(room, A, Some(&secret), INCOMING),
        webhook_line(room, B, None, &outgoing_kind(1)),
        format!(
            r#"{{"type":"message","room":"{room}","seq":1,"record":{{"author":"alice","body":"hi","sent_at_ms":1}}}}"#
        ),
    ]
}

#[test]
fn webhook_lines_are_checked_and_a_bad_one_names_its_line() {
    let stats = super::damaged::check(&file_of_version(4, &lines(), COUNTS)).expect("valid");
    assert_eq!((stats.webhooks, stats.invites, stats.messages), (2, 1, 1));

    let (room, secret) = (room_id(1), "ab".repeat(32));
    let changed = |change: &dyn Fn(&mut Vec<String>)| {
        let mut lines = lines();
        change(&mut lines);
        lines
    };
    let cases: Vec<(Vec<String>, u64, &str)> = vec![
        (
            changed(&|l| l[4] = webhook_line(room_id(2), A, Some(&secret), INCOMING)),
            6,
            "not in the file before it",
        ),
        (
            changed(&|l| {
                let hook = l.remove(4);
                l.insert(1, hook);
            }),
            3,
            "not in the file before it",
        ),
        (changed(&|l| l.swap(5, 6)), 8, "out of place"),
        (changed(&|l| l.swap(3, 4)), 6, "an invite line out of place"),
        (
            changed(&|l| l[4] = webhook_line(room, A, None, INCOMING)),
            6,
            "without its secret_sha256",
        ),
        (
            changed(&|l| l[5] = webhook_line(room, B, Some(&secret), &outgoing_kind(1))),
            7,
            "only incoming",
        ),
        (
            changed(&|l| l[4] = webhook_line(room, A, Some(&"AB".repeat(32)), INCOMING)),
            6,
            "64 lowercase hex",
        ),
        (
            changed(&|l| l[4] = webhook_line(room, "not-a-ulid", Some(&secret), INCOMING)),
            6,
            "ULID",
        ),
        (
            changed(&|l| l[4] = l[4].replacen(&format!(r#"{{"id":"{A}""#), r#"{"id":"x""#, 1)),
            6,
            "differs",
        ),
        (changed(&|l| l.swap(4, 5)), 7, "out of order"),
        (
            changed(&|l| l[5] = webhook_line(room, A, None, &outgoing_kind(1))),
            7,
            "out of order or repeated",
        ),
        (
            changed(&|l| l[5] = webhook_line(room, B, None, &outgoing_kind(2))),
            7,
            "beyond its room's last_seq 1",
        ),
        (
            changed(&|l| l[4] = l[4].replacen(r#""created_by":"alice""#, r#""created_by":"""#, 1)),
            6,
            "webhook creator",
        ),
        (
            changed(&|l| l[4] = l[4].replacen(r#""id":"#, r#""x":1,"id":"#, 1)),
            6,
            "unknown field",
        ),
    ];
    for (index, (lines, want_line, want)) in cases.into_iter().enumerate() {
        match super::damaged::check(&file_of_version(4, &lines, COUNTS)) {
            Err(BackupError::Format { line, reason }) => {
                assert_eq!(line, want_line, "case {index}: {reason}");
                assert!(reason.contains(want), "case {index}: {reason}");
            }
            other => panic!("case {index}: expected a format error, got {other:?}"),
        }
    }
    // Counts: the trailer must count the webhooks.
    let one = COUNTS.replace(r#""webhooks":2"#, r#""webhooks":1"#);
    refused_at(&file_of_version(4, &lines(), &one), 9, "trailer counts");
}

#[test]
fn a_webhook_of_a_room_not_in_the_file_is_refused_and_restores_nothing() {
    let mut lines = lines();
    lines[4] = webhook_line(room_id(2), A, Some(&"ab".repeat(32)), INCOMING);
    let bytes = file_of_version(4, &lines, COUNTS);
    let dir = TempDir::new().unwrap();
    let target = open(&dir, "target");
    let result = target.restore_backup(&save(&dir, "damaged", &bytes), &mut |_| {});
    match result {
        Err(err @ BackupError::Format { line: 6, .. }) => assert_eq!(
            err.to_string(),
            format!(
                "not a valid confab backup: line 6: a webhook of room {}, which is not in the file before it",
                room_id(2)
            )
        ),
        other => panic!("expected a format error at line 6, got {other:?}"),
    }
    assert!(target.is_empty().unwrap());
}
