//! Files that are damaged, foreign or invalid: each refused with the error that says why.

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::super::format::to_hex;
use super::{backup, open, populate, room_id};
use crate::ids::RoomId;
use crate::store::{BackupError, BackupStats};

/// The same reader `verify_backup` runs, over bytes in memory.
pub(super) fn check(bytes: &[u8]) -> Result<BackupStats, BackupError> {
    super::super::read::read_backup(bytes, &mut |_| {}, &mut |_| Ok(()))
}

/// A file of `lines` (header first) with a correct checksum and the given trailer counts.
pub(super) fn sealed(lines: &[String], counts: [u64; 4]) -> Vec<u8> {
    let mut body = Vec::new();
    for line in lines {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    let sha = to_hex(&Sha256::digest(&body));
    let [users, sessions, rooms, messages] = counts;
    let trailer = format!(
        r#"{{"type":"end","counts":{{"users":{users},"sessions":{sessions},"rooms":{rooms},"messages":{messages}}},"sha256":"{sha}"}}"#
    );
    body.extend_from_slice(trailer.as_bytes());
    body.push(b'\n');
    body
}

pub(super) fn header() -> String {
    r#"{"format":"confab-backup","version":1,"created_at_ms":1,"confab_version":"0.1.0","sessions_included":true}"#.to_string()
}

fn room_line(id: RoomId, last_seq: u64) -> String {
    format!(
        r#"{{"type":"room","id":"{id}","last_seq":{last_seq},"record":{{"id":"{id}","name":"r{id}","created_by":"a","created_at_ms":1,"expires_at_ms":2}}}}"#
    )
}

fn message_line(room: RoomId, seq: u64) -> String {
    format!(
        r#"{{"type":"message","room":"{room}","seq":{seq},"record":{{"author":"a","body":"b","sent_at_ms":1}}}}"#
    )
}

fn format_line(result: Result<BackupStats, BackupError>) -> u64 {
    match result {
        Err(BackupError::Format { line, .. }) => line,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn truncated_files_are_refused() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    populate(&store);
    let (bytes, _) = backup(&store, true);
    let trailer_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    for cut in [
        bytes.len() - 1,
        bytes.len() - 10,
        trailer_start,
        bytes.len() / 2,
        header_end,
        header_end - 5,
    ] {
        assert!(
            matches!(check(&bytes[..cut]), Err(BackupError::Truncated)),
            "cut at {cut}"
        );
    }
}

#[test]
fn any_flipped_bit_is_refused_and_a_flip_in_the_body_is_a_checksum_error() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    populate(&store);
    let (bytes, _) = backup(&store, true);
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let trailer_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    let mut damaged = bytes.clone();
    for position in (0..bytes.len()).step_by(3) {
        for bit in 0..8 {
            damaged[position] ^= 1 << bit;
            let result = check(&damaged);
            damaged[position] ^= 1 << bit;
            // (The newline before the trailer is left out: without it no trailer can be found.)
            if (header_end..trailer_start - 1).contains(&position) {
                assert!(
                    matches!(result, Err(BackupError::Checksum)),
                    "flip at {position}.{bit}: {result:?}"
                );
            } else {
                assert!(result.is_err(), "flip at {position}.{bit} went unnoticed");
            }
        }
    }
    assert!(check(&damaged).is_ok());
}

#[test]
fn foreign_files_and_unknown_versions_are_refused_by_their_header() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    populate(&store);
    let (bytes, _) = backup(&store, true);
    let text = String::from_utf8(bytes).unwrap();

    let renamed = text.replacen("confab-backup", "confab-bakcup", 1);
    assert_eq!(format_line(check(renamed.as_bytes())), 1);
    assert_eq!(format_line(check(b"hello world\n")), 1);
    assert_eq!(format_line(check(b"")), 1);
    assert_eq!(format_line(check(b"\x89PNG\r\n\x1a\n")), 1);

    let newer = text.replacen(r#""version":7"#, r#""version":8"#, 1);
    assert!(matches!(
        check(newer.as_bytes()),
        Err(BackupError::UnsupportedVersion(8))
    ));
}

#[test]
fn an_overlong_line_is_refused_without_buffering_it() {
    let huge = format!(r#"{{"type":"user","record":"{}"}}"#, "x".repeat(3 << 20));
    let bytes = sealed(&[header(), huge], [1, 0, 0, 0]);
    match check(&bytes) {
        Err(BackupError::Format { line: 2, reason }) => assert!(reason.contains("1 MiB")),
        other => panic!("expected an overlong-line error, got {other:?}"),
    }
    // A giant first line is not a header.
    assert_eq!(format_line(check(&vec![b'{'; 2 << 20])), 1);
}

#[test]
fn intact_but_invalid_files_name_their_bad_line() {
    let (a, b) = (room_id(1), room_id(2));
    let user = r#"{"type":"user","record":{"username":"ann","password_hash":"h","is_admin":false,"created_at_ms":1}}"#;
    let cases: Vec<(Vec<String>, [u64; 4], u64)> = vec![
        // A message whose room is not in the file.
        (
            vec![header(), room_line(a, 1), message_line(b, 1)],
            [0, 0, 1, 1],
            3,
        ),
        // A message before any room.
        (vec![header(), message_line(a, 1)], [0, 0, 0, 1], 2),
        // Counts that do not match (the trailer is line 4).
        (
            vec![header(), room_line(a, 1), message_line(a, 1)],
            [0, 0, 1, 2],
            4,
        ),
        // A message beyond its room's last_seq.
        (
            vec![header(), room_line(a, 1), message_line(a, 2)],
            [0, 0, 1, 1],
            3,
        ),
        // Messages out of order.
        (
            vec![
                header(),
                room_line(a, 2),
                message_line(a, 2),
                message_line(a, 1),
            ],
            [0, 0, 1, 2],
            4,
        ),
        // A repeated room.
        (
            vec![header(), room_line(a, 0), room_line(a, 0)],
            [0, 0, 2, 0],
            3,
        ),
        // A user after the rooms.
        (
            vec![header(), room_line(a, 0), user.to_string()],
            [1, 0, 1, 0],
            3,
        ),
        // A session without its user.
        (
            vec![
                header(),
                format!(
                    r#"{{"type":"session","token_sha256":"{}","record":{{"username":"ann","created_at_ms":1,"last_seen_ms":1}}}}"#,
                    "ab".repeat(32)
                ),
            ],
            [0, 1, 0, 0],
            2,
        ),
        // An unknown field, and a line that is not JSON.
        (
            vec![
                header(),
                user.replace(r#""type":"user","#, r#""type":"user","x":1,"#),
            ],
            [1, 0, 0, 0],
            2,
        ),
        (vec![header(), "{not json".to_string()], [0, 0, 0, 0], 2),
        // An empty line.
        (vec![header(), String::new()], [0, 0, 0, 0], 2),
    ];
    for (index, (lines, counts, bad_line)) in cases.into_iter().enumerate() {
        let result = check(&sealed(&lines, counts));
        assert_eq!(format_line(result), bad_line, "case {index}");
    }
    // And the well-formed version of the first case is accepted.
    let good = sealed(
        &[
            header(),
            user.to_string(),
            room_line(a, 1),
            message_line(a, 1),
        ],
        [1, 0, 1, 1],
    );
    assert_eq!(check(&good).unwrap().messages, 1);
    let trailing = [good.as_slice(), b"{}\n"].concat();
    assert_eq!(format_line(check(&trailing)), 6);
}
