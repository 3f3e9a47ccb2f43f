//! Backups written before Web Push existed (format version 4) still restore, with no VAPID key
//! and no push subscriptions.

use tempfile::TempDir;

use super::damaged::check;
use super::push::{subscription_line, vapid_key_line, VAPID_KEY};
use super::version2::{file_of_version, refused_at, user_line};
use super::{dump, open, populate, save};
use crate::store::BackupStats;

/// Written by `Store::write_backup` at commit ec6705d (format 4) from [`populate`], which
/// has not changed since: everything but a VAPID key and push subscriptions, which version 4
/// did not know.
const FIXTURE: &[u8] = include_bytes!("../../../../tests/fixtures/backup-v4.confab");

#[test]
fn the_version_4_fixture_restores_what_it_was_written_from_with_no_key_and_no_subscriptions() {
    let stats = check(FIXTURE).expect("the version 4 fixture verifies");
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
            webhooks: 3,
            push_subscriptions: 0,
            attachments: 0,
            identity_keys: 0,
            room_keys: 0,
            bytes: FIXTURE.len() as u64,
        }
    );
    let dir = TempDir::new().unwrap();
    let target = open(&dir, "target");
    // A server started once on the empty directory made a key: the restore leaves the file's
    // state, none, and the server makes a new one at its next start.
    target.set_vapid_key(&VAPID_KEY).unwrap();
    assert!(target.is_empty().unwrap(), "the key does not count as data");
    target
        .restore_backup(&save(&dir, "v4.backup", FIXTURE), &mut |_| {})
        .expect("restore");

    let source = open(&dir, "source");
    populate(&source);
    assert_eq!(dump(&target), dump(&source));
    assert_eq!(target.vapid_key().unwrap(), None);
    assert!(target.all_push_subscriptions().unwrap().is_empty());
}

#[test]
fn web_push_lines_are_refused_in_a_version_4_file() {
    let counts = r#"{"users":1,"sessions":0,"rooms":0,"messages":0}"#;
    refused_at(
        &file_of_version(4, &[vapid_key_line(&VAPID_KEY), user_line("alice")], counts),
        2,
        "version 5",
    );
    let counts = r#"{"users":1,"sessions":0,"rooms":0,"messages":0,"push_subscriptions":1}"#;
    refused_at(
        &file_of_version(
            4,
            &[user_line("alice"), subscription_line("alice", 1)],
            counts,
        ),
        3,
        "version 5",
    );
}
