//! Backups written before end-to-end encrypted rooms existed (format version 6) still restore.

use tempfile::TempDir;

use super::attachments::{add_attachments, resealed};
use super::damaged::check;
use super::push::add_push;
use super::{dump, open, populate, save};
use crate::store::BackupStats;

/// Written with sessions by `Store::write_backup` at commit b87e3d1 plus the first half of
/// issue 17 (still format 6) from [`populate`], `push::add_push` and
/// `attachments::add_attachments`: everything but identity and room keys.
const FIXTURE: &[u8] = include_bytes!("../../../../tests/fixtures/backup-v6.confab");

#[test]
fn the_version_6_fixture_restores_what_it_was_written_from_with_no_keys() {
    let stats = check(FIXTURE).expect("the version 6 fixture verifies");
    assert_eq!(
        stats,
        BackupStats {
            users: 4,
            sessions: 3,
            rooms: 6,
            messages: 10,
            members: 9,
            invites: 1,
            tokens: 3,
            webhooks: 3,
            push_subscriptions: 5,
            attachments: 3,
            identity_keys: 0,
            room_keys: 0,
            bytes: FIXTURE.len() as u64,
        }
    );
    let dir = TempDir::new().unwrap();
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "v6.backup", FIXTURE), &mut |_| {})
        .expect("restore");

    let source = open(&dir, "source");
    populate(&source);
    add_push(&source);
    add_attachments(&source);
    assert_eq!(dump(&target), dump(&source));
    assert_eq!(target.attachments().unwrap().len(), 3);
}

#[test]
fn encryption_lines_are_refused_in_a_version_6_file() {
    let text = String::from_utf8(FIXTURE.to_vec()).unwrap();
    let user_line = text
        .lines()
        .position(|line| line.starts_with(r#"{"type":"user""#))
        .unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.insert(
        user_line + 1,
        r#"{"type":"identity_key","username":"alice","record":{"public_key":"x","wrapped_private_key":"x","kdf":{"name":"PBKDF2","hash":"SHA-256","iterations":600000,"salt":"x","iv":"x"},"created_at_ms":1}}"#.into(),
    );
    let lines: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
    let err = check(&resealed(&lines)).unwrap_err();
    assert!(err.to_string().contains("version 7"), "{err}");
}
