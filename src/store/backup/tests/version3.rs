//! Backups written before webhooks existed (format version 3) still restore.

use tempfile::TempDir;

use super::damaged::check;
use super::version2::{file_of_version, refused_at, user_line};
use super::webhooks::webhook_line;
use super::{dump, open, populate, room_id, save};
use crate::store::records::encode;
use crate::store::{keys, BackupStats};

/// Written by the last confab that wrote version 3 (commit b8090ed) from [`populate`] as it was
/// then: everything it holds now but webhooks and the stamp of the message one posted, read
/// markers, notification levels and mentions; its messages get their ordinals on restore.
const FIXTURE: &[u8] = include_bytes!("../../../../tests/fixtures/backup-v3.confab");

#[test]
fn the_version_3_fixture_restores_what_it_was_written_from() {
    let stats = check(FIXTURE).expect("the version 3 fixture verifies");
    assert_eq!(
        stats,
        BackupStats {
            users: 4,
            sessions: 3,
            rooms: 6,
            messages: 9,
            members: 9,
            invites: 1,
            tokens: 3,
            webhooks: 0,
            push_subscriptions: 0,
            attachments: 0,
            identity_keys: 0,
            room_keys: 0,
            bytes: FIXTURE.len() as u64,
        }
    );
    let dir = TempDir::new().unwrap();
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "v3.backup", FIXTURE), &mut |_| {})
        .expect("restore");

    let source = open(&dir, "source");
    populate(&source);
    source.webhooks.clear().unwrap();
    source.incoming_hooks.clear().unwrap();
    source.read_markers.clear().unwrap();
    source.notification_levels.clear().unwrap();
    source.mention_index.clear().unwrap();
    source.mention_totals.clear().unwrap();
    let mut unmentioned = source.message(room_id(2), 3).unwrap().unwrap();
    unmentioned.mentions.clear();
    source
        .messages
        .insert(keys::message(room_id(2), 3), encode(&unmentioned))
        .unwrap();
    // A version 3 file's messages are numbered as they are restored.
    source.number_messages().unwrap();
    let mut unstamped = source.message(room_id(2), 5).unwrap().unwrap();
    unstamped.webhook = None;
    source
        .messages
        .insert(keys::message(room_id(2), 5), encode(&unstamped))
        .unwrap();
    assert_eq!(dump(&target), dump(&source));
    assert!(target.outgoing_webhooks().unwrap().is_empty());
    assert!(target.deliveries.is_empty() && target.delivery_queue.is_empty());
}

#[test]
fn webhook_lines_are_refused_in_a_version_3_file() {
    let room = room_id(1);
    let lines = [
        user_line("alice"),
        format!(
            r#"{{"type":"room","id":"{room}","last_seq":0,"record":{{"id":"{room}","name":"r","created_by":"alice","created_at_ms":1,"expires_at_ms":2}}}}"#
        ),
        webhook_line(
            room,
            "01JD0000000000000000000001",
            Some(&"ab".repeat(32)),
            r#""kind":"incoming""#,
        ),
    ];
    let counts = r#"{"users":1,"sessions":0,"rooms":1,"messages":0,"members":0,"invites":0,"tokens":0,"webhooks":1}"#;
    refused_at(&file_of_version(3, &lines, counts), 4, "version 4");
}
