//! Backups written before attachments existed (format version 5) still restore.

use tempfile::TempDir;

use super::damaged::check;
use super::push::{add_push, VAPID_KEY};
use super::{dump, open, populate, save};
use crate::store::BackupStats;

/// Written with sessions by `Store::write_backup` at commit c2d08dd (format 5) from
/// [`populate`] and `push::add_push`, which have not changed since: everything but
/// attachments, which version 5 did not back up.
const FIXTURE: &[u8] = include_bytes!("../../../../tests/fixtures/backup-v5.confab");

#[test]
fn the_version_5_fixture_restores_what_it_was_written_from_with_no_attachments() {
    let stats = check(FIXTURE).expect("the version 5 fixture verifies");
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
            push_subscriptions: 5,
            attachments: 0,
            identity_keys: 0,
            room_keys: 0,
            bytes: FIXTURE.len() as u64,
        }
    );
    let dir = TempDir::new().unwrap();
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "v5.backup", FIXTURE), &mut |_| {})
        .expect("restore");

    let source = open(&dir, "source");
    populate(&source);
    add_push(&source);
    assert_eq!(dump(&target), dump(&source));
    assert_eq!(target.vapid_key().unwrap(), Some(VAPID_KEY.to_vec()));
    assert!(target.attachments().unwrap().is_empty());
}
