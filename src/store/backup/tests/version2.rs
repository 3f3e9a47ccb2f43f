//! Backups written before access tokens and bots existed (format version 2) still restore.

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::super::format::to_hex;
use super::damaged::check;
use super::{open, room_id, save, NOW};
use crate::store::BackupError;

/// A file with a correct checksum: `lines` after a version 2 header, then a trailer with
/// `counts` (a JSON object).
fn version_2_file(lines: &[String], counts: &str) -> Vec<u8> {
    file_of_version(2, lines, counts)
}

pub(super) fn file_of_version(version: u64, lines: &[String], counts: &str) -> Vec<u8> {
    let mut body = format!(
        r#"{{"format":"confab-backup","version":{version},"created_at_ms":1,"confab_version":"0.1.0","sessions_included":true}}"#
    );
    body.push('\n');
    for line in lines {
        body.push_str(line);
        body.push('\n');
    }
    let sha = to_hex(&Sha256::digest(body.as_bytes()));
    body.push_str(&format!(
        r#"{{"type":"end","counts":{counts},"sha256":"{sha}"}}"#
    ));
    body.push('\n');
    body.into_bytes()
}

pub(super) fn user_line(name: &str) -> String {
    format!(
        r#"{{"type":"user","record":{{"username":"{name}","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA","is_admin":true,"locked":false,"created_at_ms":1}}}}"#
    )
}

/// What confab wrote before tokens: a user with a session, a private room with its member, an
/// invite and a message.
fn lines() -> Vec<String> {
    let room = room_id(1);
    vec![
        user_line("alice"),
        format!(
            r#"{{"type":"session","token_sha256":"{}","record":{{"username":"alice","created_at_ms":{NOW},"last_seen_ms":{NOW}}}}}"#,
            "ab".repeat(32)
        ),
        format!(
            r#"{{"type":"room","id":"{room}","last_seq":1,"record":{{"id":"{room}","name":"plans","created_by":"alice","created_at_ms":{NOW},"expires_at_ms":{},"kind":"private","member_count":1}}}}"#,
            NOW + 1_000_000
        ),
        format!(
            r#"{{"type":"member","room":"{room}","username":"alice","record":{{"role":"owner","joined_at_ms":{NOW}}}}}"#
        ),
        format!(
            r#"{{"type":"invite","room":"{room}","code_sha256":"{}","record":{{"id":"0101010101010101","room":"{room}","created_by":"alice","created_at_ms":{NOW},"expires_at_ms":{},"max_uses":null,"uses":0}}}}"#,
            "cd".repeat(32),
            NOW + 1_000
        ),
        format!(
            r#"{{"type":"message","room":"{room}","seq":1,"record":{{"author":"alice","body":"hi","sent_at_ms":{NOW}}}}}"#
        ),
    ]
}

const COUNTS: &str = r#"{"users":1,"sessions":1,"rooms":1,"messages":1,"members":1,"invites":1}"#;

#[test]
fn a_version_2_file_restores_with_people_and_no_tokens() {
    let bytes = version_2_file(&lines(), COUNTS);
    let stats = check(&bytes).expect("a version 2 file verifies");
    assert_eq!((stats.users, stats.tokens, stats.messages), (1, 0, 1));

    let dir = TempDir::new().expect("tempdir");
    let path = save(&dir, "v2.backup", &bytes);
    let store = open(&dir, "target");
    store.restore_backup(&path, &mut |_| {}).expect("restore");
    let alice = store.user("alice").expect("read").expect("restored");
    assert!(!alice.is_bot && alice.bot_owner.is_none() && alice.is_admin);
    assert!(store.tokens_of("alice").expect("tokens").is_empty());
    assert!(store.tokens.is_empty() && store.token_expiry.is_empty());
    assert_eq!(store.rooms_of("alice").expect("rooms"), vec![room_id(1)]);
    assert!(store.session(&[0xab; 32]).expect("session").is_some());
}

fn token_line(user: &str, hash_byte: &str, id: &str) -> String {
    format!(
        r#"{{"type":"token","token_sha256":"{}","record":{{"id":"{id}","username":"{user}","name":"ci","scopes":["read"],"created_at_ms":1}}}}"#,
        hash_byte.repeat(32)
    )
}

const ULID: &str = "01JD0000000000000000000000";

pub(super) fn refused_at(bytes: &[u8], want_line: u64, want: &str) {
    match check(bytes) {
        Err(BackupError::Format { line, reason }) => {
            assert_eq!(line, want_line, "{reason}");
            assert!(reason.contains(want), "{reason}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn token_lines_are_refused_in_a_version_2_file() {
    let mut lines = lines();
    lines.insert(2, token_line("alice", "ef", ULID));
    refused_at(&version_2_file(&lines, COUNTS), 4, "version 3");
}

#[test]
fn version_3_token_lines_follow_their_user_in_hash_order_with_ulid_ids() {
    let counts = |tokens: u64| {
        format!(
            r#"{{"users":2,"sessions":0,"rooms":0,"messages":0,"members":0,"invites":0,"tokens":{tokens}}}"#
        )
    };
    let good = [
        user_line("alice"),
        token_line("alice", "01", ULID),
        token_line("alice", "02", "01JD0000000000000000000001"),
        user_line("bob"),
    ];
    let stats = check(&file_of_version(3, &good, &counts(2))).expect("valid");
    assert_eq!(stats.tokens, 2);

    let mut other_user = good.to_vec();
    other_user[2] = token_line("bob", "02", ULID);
    refused_at(
        &file_of_version(3, &other_user, &counts(2)),
        4,
        "follow its user",
    );
    let mut unordered = good.to_vec();
    unordered.swap(1, 2);
    refused_at(
        &file_of_version(3, &unordered, &counts(2)),
        4,
        "out of order",
    );
    let mut bad_id = good.to_vec();
    bad_id[1] = token_line("alice", "01", "not-a-ulid");
    refused_at(&file_of_version(3, &bad_id, &counts(2)), 3, "ULID");
}
