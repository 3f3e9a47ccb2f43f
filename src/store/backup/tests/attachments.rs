//! Attachments in backups (format version 6): every file's bytes streamed after its record,
//! checked by `verify`, put back by restore byte for byte; damaged and cut files refused.

use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::super::format::to_hex;
use super::damaged::check;
use super::version2::{file_of_version, refused_at, user_line};
use super::{backup, dump, open, populate, room_id, save, verify, NOW};
use crate::ids::{AttachmentId, RoomId};
use crate::store::{
    AttachmentMeta, AttachmentRecord, BackupError, EncodedMessage, MessageRecord, Store,
};

/// Bytes that differ along the file, so a misplaced chunk cannot go unnoticed.
fn contents(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn attachment_id(n: u8) -> AttachmentId {
    AttachmentId::from_bytes(ulid::Ulid::from_parts(NOW + u64::from(n), u128::from(n)).to_bytes())
}

/// Keeps `bytes` as an upload of `uploader` to `room`, unsent, as the server does.
fn upload(
    store: &Store,
    room: RoomId,
    n: u8,
    uploader: &str,
    bytes: &[u8],
    thumbnail: Option<&[u8]>,
) -> (AttachmentId, AttachmentRecord) {
    let id = attachment_id(n);
    let record = AttachmentRecord {
        room: room.to_string(),
        uploader: uploader.to_string(),
        created_at_ms: NOW + u64::from(n),
        message: None,
        meta: AttachmentMeta {
            id: id.to_string(),
            name: format!("file {n}.bin"),
            size: bytes.len() as u64,
            content_type: if thumbnail.is_some() {
                "image/png".into()
            } else {
                "application/octet-stream".into()
            },
            sha256: to_hex(&Sha256::digest(bytes)),
            width: thumbnail.map(|_| 800),
            height: thumbnail.map(|_| 600),
            thumbnail: thumbnail.is_some(),
        },
    };
    let mut incoming = store.incoming_file(id).unwrap();
    std::io::Write::write_all(incoming.file().unwrap(), bytes).unwrap();
    store
        .insert_attachment(room, id, &record, &mut incoming, thumbnail)
        .unwrap();
    (id, record)
}

/// The big one: four data lines (three full, one partial), with a preview.
const BIG: usize = 3 * 48 * 1024 + 2544;
const PREVIEW: usize = 3000;

/// On top of [`populate`]: in "quiet" (room 3), alice's image of [`BIG`] bytes with a preview,
/// sent with message 1, and an empty file she has not sent; in "general" (room 2), a small
/// unsent file of Bob's.
pub(super) fn add_attachments(store: &Store) {
    let (image, record) = upload(
        store,
        room_id(3),
        1,
        "alice",
        &contents(BIG, 1),
        Some(&contents(PREVIEW, 2)),
    );
    upload(store, room_id(3), 3, "alice", b"", None);
    upload(store, room_id(2), 2, "Bob", b"a small text file\n", None);
    let mut message = MessageRecord::new("alice".into(), String::new(), NOW + 50, None);
    message.attachments = vec![record.meta.clone()];
    let mut encoded = EncodedMessage::new(room_id(3), 1, &message);
    encoded.claim(&[(image, record)]);
    store.append_messages(&[&encoded]).unwrap();
    assert_eq!(
        store.attachment(image).unwrap().unwrap().message,
        Some(1),
        "sent"
    );
}

/// Every attachment of `store` with the SHA-256 of its file and of its preview, read from disk.
fn files_on_disk(store: &Store) -> Vec<(AttachmentId, String, Option<String>)> {
    store
        .attachments()
        .unwrap()
        .into_iter()
        .map(|(id, record)| {
            let room: RoomId = record.room.parse().unwrap();
            let hash = |thumbnail: bool| {
                let path = store.attachment_path(room, id, thumbnail);
                std::fs::read(path).map(|bytes| to_hex(&Sha256::digest(bytes)))
            };
            (id, hash(false).unwrap(), hash(true).ok())
        })
        .collect()
}

/// Regular files anywhere under `dir`.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    bytes[..bytes.len() - 1].split(|&b| b == b'\n').collect()
}

fn kind(line: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(line).unwrap();
    value["type"].as_str().unwrap_or("header").to_string()
}

/// `lines` joined again, with a trailer whose checksum fits them (its counts unchanged).
pub(super) fn resealed(lines: &[&[u8]]) -> Vec<u8> {
    let (trailer, body) = lines.split_last().unwrap();
    let mut bytes = body.join(&b'\n');
    bytes.push(b'\n');
    let mut trailer: serde_json::Value = serde_json::from_slice(trailer).unwrap();
    trailer["sha256"] = to_hex(&Sha256::digest(&bytes)).into();
    bytes.extend_from_slice(trailer.to_string().as_bytes());
    bytes.push(b'\n');
    bytes
}

#[test]
fn attachments_back_up_and_restore_byte_for_byte_with_their_records_and_indexes() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    add_attachments(&source);
    let (bytes, stats) = backup(&source, true);
    assert_eq!((stats.attachments, stats.rooms, stats.messages), (3, 6, 10));

    // Each room's attachments after its messages, by id, each followed by its bytes.
    let kinds: Vec<String> = lines_of(&bytes).iter().map(|line| kind(line)).collect();
    let first = kinds.iter().position(|k| k == "attachment").unwrap();
    assert_eq!(kinds[first - 1], "message", "general's last message");
    assert_eq!(
        kinds[first + 1..first + 3],
        ["attachment_data", "room"],
        "the small file has one data line"
    );
    let quiet = &kinds[first + 2..];
    let mut want = vec!["room", "member", "message", "attachment"];
    want.extend(["attachment_data"; 4]);
    want.extend(["attachment_thumbnail", "attachment", "room"]);
    assert_eq!(&quiet[..want.len()], want.as_slice());
    let longest = lines_of(&bytes).iter().map(|l| l.len()).max().unwrap();
    assert!(
        longest < 70 * 1024,
        "a data line is about 64 KiB: {longest}"
    );

    let path = save(&dir, "attachments.backup", &bytes);
    assert_eq!(verify(&path).unwrap(), stats);
    let target = open(&dir, "target");
    assert_eq!(target.restore_backup(&path, &mut |_| {}).unwrap(), stats);
    assert_eq!(dump(&target), dump(&source));
    let restored = files_on_disk(&target);
    assert_eq!(restored, files_on_disk(&source));
    assert_eq!(restored.len(), 3);
    let image = target.attachment(attachment_id(1)).unwrap().unwrap();
    assert_eq!(restored[0].1, image.meta.sha256);
    let path = |thumbnail| target.attachment_path(room_id(3), attachment_id(1), thumbnail);
    assert_eq!(std::fs::read(path(false)).unwrap(), contents(BIG, 1));
    assert_eq!(std::fs::read(path(true)).unwrap(), contents(PREVIEW, 2));
    let message = target.message(room_id(3), 1).unwrap().unwrap();
    assert_eq!(message.attachments, vec![image.meta]);
    assert_eq!(target.attachment_usage("bob").unwrap(), 18);
    assert_eq!(target.attachment_usage("alice").unwrap(), BIG as u64);
    // Nothing is left behind in incoming/.
    let incoming = dir.path().join("target/attachments/incoming");
    assert!(files_under(&incoming).is_empty());
}

/// Index of the first data line of the big attachment.
fn first_big_line(lines: &[&[u8]]) -> usize {
    lines
        .iter()
        .position(|line| kind(line) == "attachment_data" && line.len() > 60_000)
        .unwrap()
}

#[test]
fn verify_refuses_a_flipped_byte_in_attachment_data_and_bytes_that_do_not_match() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    add_attachments(&source);
    let (bytes, _) = backup(&source, false);
    let lines = lines_of(&bytes);
    assert_eq!(check(&resealed(&lines)).unwrap().attachments, 3);
    let big = first_big_line(&lines);

    // One character of the data, swapped for another base64url character.
    let mut changed = lines[big].to_vec();
    changed[100] = if changed[100] == b'A' { b'B' } else { b'A' };
    let mut in_place = bytes.clone();
    let offset: usize = lines[..big].iter().map(|l| l.len() + 1).sum();
    in_place[offset + 100] = changed[100];
    assert!(matches!(check(&in_place), Err(BackupError::Checksum)));
    let path = save(&dir, "flipped.backup", &in_place);
    assert!(matches!(verify(&path), Err(BackupError::Checksum)));

    // With a checksum that fits (a tool rewrote it), the attachment's own SHA-256 catches it,
    // on its last data line.
    let mut damaged = lines.clone();
    damaged[big] = &changed;
    let id = attachment_id(1).to_string();
    match check(&resealed(&damaged)) {
        Err(BackupError::Format { line, reason }) => {
            assert_eq!(line, big as u64 + 4, "{reason}");
            assert!(
                reason.contains("SHA-256") && reason.contains(&id),
                "{reason}"
            );
        }
        other => panic!("expected a format error, got {other:?}"),
    }

    // A data line left out: the preview's line finds the attachment short.
    let mut short = lines.clone();
    short.remove(big);
    let want = format!(
        "attachment {id} ends after {} of its {BIG} bytes",
        BIG - 48 * 1024
    );
    match check(&resealed(&short)) {
        Err(BackupError::Format { line, reason }) => {
            assert_eq!(line, big as u64 + 4, "{reason}");
            assert!(reason.contains(&want), "{reason}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    // A data line repeated: more bytes than the record's size.
    let mut long = lines.clone();
    long.insert(big, lines[big]);
    match check(&resealed(&long)) {
        Err(BackupError::Format { line, reason }) => {
            assert_eq!(line, big as u64 + 4, "{reason}");
            assert!(reason.contains("goes past its size"), "{reason}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn a_backup_cut_inside_an_attachment_is_refused_and_restores_nothing() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    add_attachments(&source);
    let (bytes, _) = backup(&source, true);
    let lines = lines_of(&bytes);
    let big = first_big_line(&lines);
    let start: usize = lines[..big + 1].iter().map(|l| l.len() + 1).sum();
    let target = open(&dir, "target");
    for cut in [start, start + 1000, start - 1] {
        assert!(
            matches!(check(&bytes[..cut]), Err(BackupError::Truncated)),
            "cut at {cut}"
        );
        let path = save(&dir, "cut.backup", &bytes[..cut]);
        let result = target.restore_backup(&path, &mut |_| {});
        assert!(matches!(result, Err(BackupError::Truncated)), "{result:?}");
        assert!(target.is_empty().unwrap());
        assert!(files_under(&dir.path().join("target/attachments")).is_empty());
    }

    // A file cut after restore checked it (between its two passes): the import stops inside
    // the big attachment, after the small one in "general" was kept, and everything goes.
    let path = save(&dir, "changing.backup", &bytes);
    let mut cut_done = false;
    let result = target.restore_backup(&path, &mut |n| {
        if n == bytes.len() as u64 && !cut_done {
            cut_done = true;
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len((start + 1000) as u64).unwrap();
        }
    });
    assert!(cut_done);
    assert!(matches!(result, Err(BackupError::Truncated)), "{result:?}");
    assert!(target.is_empty().unwrap());
    assert!(files_under(&dir.path().join("target/attachments")).is_empty());

    // And the store takes the whole file afterwards.
    let good = save(&dir, "good.backup", &bytes);
    target.restore_backup(&good, &mut |_| {}).unwrap();
    assert_eq!(files_on_disk(&target), files_on_disk(&source));
}

#[test]
fn unreadable_or_damaged_files_are_left_out_and_the_backup_completes() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    add_attachments(&source);
    // Bob's file is gone from disk; the empty file has grown a byte; the image's preview is
    // gone; and the image's record says a message sent after the room's mark took it.
    std::fs::remove_file(source.attachment_path(room_id(2), attachment_id(2), false)).unwrap();
    std::fs::write(
        source.attachment_path(room_id(3), attachment_id(3), false),
        b"x",
    )
    .unwrap();
    std::fs::remove_file(source.attachment_path(room_id(3), attachment_id(1), true)).unwrap();
    let mut image = source.attachment(attachment_id(1)).unwrap().unwrap();
    image.message = Some(7);
    source
        .attachments
        .insert(
            attachment_id(1).to_bytes(),
            crate::store::records::encode(&image),
        )
        .unwrap();

    let (bytes, stats) = backup(&source, false);
    assert_eq!(stats.attachments, 1);
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "b", &bytes), &mut |_| {})
        .unwrap();
    let restored = target.attachments().unwrap();
    assert_eq!(restored.len(), 1);
    let (id, record) = &restored[0];
    assert_eq!(*id, attachment_id(1));
    assert_eq!(record.message, None, "message 7 is not in the file");
    assert!(!record.meta.thumbnail, "its preview is gone");
    assert_eq!(
        std::fs::read(target.attachment_path(room_id(3), *id, false)).unwrap(),
        contents(BIG, 1)
    );
    assert_eq!(target.attachment_usage("bob").unwrap(), 0);
}

fn room_line(room: RoomId, last_seq: u64) -> String {
    format!(
        r#"{{"type":"room","id":"{room}","last_seq":{last_seq},"record":{{"id":"{room}","name":"r","created_by":"alice","created_at_ms":1,"expires_at_ms":2}}}}"#
    )
}

fn meta_json(id: AttachmentId, bytes: &[u8]) -> String {
    format!(
        r#"{{"id":"{id}","name":"a.txt","size":{},"content_type":"text/plain","sha256":"{}"}}"#,
        bytes.len(),
        to_hex(&Sha256::digest(bytes))
    )
}

fn attachment_line(room: RoomId, id: AttachmentId, bytes: &[u8], message: Option<u64>) -> String {
    let message = message.map_or(String::new(), |seq| format!(r#","message":{seq}"#));
    format!(
        r#"{{"type":"attachment","room":"{room}","id":"{id}","record":{{"room":"{room}","uploader":"alice","created_at_ms":1{message},"meta":{}}}}}"#,
        meta_json(id, bytes)
    )
}

fn data_line(bytes: &[u8]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    format!(
        r#"{{"type":"attachment_data","data":"{}"}}"#,
        Base64UrlUnpadded::encode_string(bytes)
    )
}

fn counts(rooms: u64, messages: u64, attachments: u64) -> String {
    format!(
        r#"{{"users":1,"sessions":0,"rooms":{rooms},"messages":{messages},"attachments":{attachments}}}"#
    )
}

#[test]
fn attachment_lines_are_refused_in_a_version_5_file() {
    let room = room_id(1);
    let id = attachment_id(1);
    let lines = [
        user_line("alice"),
        room_line(room, 0),
        attachment_line(room, id, b"hi", None),
        data_line(b"hi"),
    ];
    refused_at(
        &file_of_version(5, &lines, &counts(1, 0, 1)),
        4,
        "version 6",
    );
    // The same lines are a good version 6 file.
    let stats = check(&file_of_version(6, &lines, &counts(1, 0, 1))).unwrap();
    assert_eq!(stats.attachments, 1);
    // Nor may a version 5 message carry attachments.
    let message = format!(
        r#"{{"type":"message","room":"{room}","seq":1,"record":{{"author":"alice","body":"","sent_at_ms":1,"attachments":[{}]}}}}"#,
        meta_json(id, b"hi")
    );
    let lines = [user_line("alice"), room_line(room, 1), message];
    refused_at(
        &file_of_version(5, &lines, &counts(1, 1, 0)),
        4,
        "version 6",
    );
}

#[test]
fn attachment_lines_are_checked_and_a_bad_one_names_its_line() {
    let room = room_id(1);
    let (a, b) = (attachment_id(1), attachment_id(2));
    let message = format!(
        r#"{{"type":"message","room":"{room}","seq":1,"record":{{"author":"alice","body":"b","sent_at_ms":1}}}}"#
    );
    let good = vec![
        user_line("alice"),
        room_line(room, 1),
        message.clone(),
        attachment_line(room, a, b"first", Some(1)),
        data_line(b"fir"),
        data_line(b"st"),
        attachment_line(room, b, b"", None),
    ];
    let stats = check(&file_of_version(6, &good, &counts(1, 1, 2))).unwrap();
    assert_eq!(stats.attachments, 2);

    let with = |index: usize, line: String| {
        let mut lines = good.clone();
        lines[index] = line;
        file_of_version(6, &lines, &counts(1, 1, 2))
    };
    // Line numbers count the header: good[i] is line i + 2.
    refused_at(
        &with(3, attachment_line(room, a, b"first", Some(2))),
        5,
        "beyond its room's last_seq",
    );
    refused_at(
        &with(3, attachment_line(room_id(2), a, b"first", None)),
        5,
        "not in the file before it",
    );
    refused_at(&with(4, data_line(b"fix")), 7, "SHA-256");
    refused_at(&with(5, data_line(b"s")), 8, "ends after 4 of its 5 bytes");
    refused_at(&with(5, data_line(b"stt")), 7, "goes past its size");
    refused_at(
        &with(4, r#"{"type":"attachment_data","data":"ZmlyAA=="}"#.into()),
        6,
        "base64url",
    );
    refused_at(
        &with(6, attachment_line(room, a, b"", None)),
        8,
        "out of order",
    );
    refused_at(&with(6, message.clone()), 8, "after its room's attachments");
    refused_at(
        &with(
            3,
            attachment_line(room, a, b"first", None)
                .replace(r#""uploader":"alice""#, r#""uploader":"""#),
        ),
        5,
        "uploader",
    );
    refused_at(
        &with(
            3,
            attachment_line(room, a, b"first", None).replace(
                r#""type":"attachment","#,
                r#""type":"attachment","thumbnail_size":1,"#,
            ),
        ),
        5,
        "thumbnail_size",
    );
    // A data line with no attachment before it, and a file ending inside an attachment.
    let mut stray = good.clone();
    stray.push(data_line(b"x"));
    refused_at(
        &file_of_version(6, &stray, &counts(1, 1, 2)),
        9,
        "without an attachment",
    );
    let mut unfinished = good.clone();
    unfinished.truncate(5);
    refused_at(
        &file_of_version(6, &unfinished, &counts(1, 1, 1)),
        7,
        "ends after 3 of its 5 bytes",
    );
}
