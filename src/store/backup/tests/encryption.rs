//! Encrypted rooms in backups (format 7): identity keys after their users, wrapped room keys
//! after their members, and encrypted message bodies, all copied as the browsers made them.

use base64ct::{Base64, Encoding};
use tempfile::TempDir;

use super::attachments::resealed;
use super::damaged::check;
use super::{add_room_of, backup, dump, message, open, populate, room_id, save, NOW};
use crate::store::{
    EncodedMessage, EncryptedBody, IdentityKeyRecord, KdfRecord, RoomKeyRecord, RoomKind, Store,
};

fn public_key(seed: u8) -> String {
    let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    Base64::encode_string(point.as_bytes())
}

fn identity(seed: u8) -> IdentityKeyRecord {
    IdentityKeyRecord {
        public_key: public_key(seed),
        wrapped_private_key: Base64::encode_string(&[seed; 154]),
        kdf: KdfRecord {
            name: "PBKDF2".into(),
            hash: "SHA-256".into(),
            iterations: 600_000,
            salt: Base64::encode_string(&[seed; 16]),
            iv: Base64::encode_string(&[seed; 12]),
        },
        created_at_ms: NOW,
    }
}

fn wrapped(by: &str, seed: u8) -> RoomKeyRecord {
    RoomKeyRecord {
        wrapped_key: Base64::encode_string(&[seed; 48]),
        iv: Base64::encode_string(&[seed; 12]),
        wrapped_by: by.into(),
        wrapper_public_key: public_key(1),
        created_at_ms: NOW,
    }
}

/// A marker no line may hold in clear: the file carries only what browsers encrypted.
const SECRET: &str = "the launch code is 0000";

/// On top of [`populate`]: alice and carol have identity keys; room 7 is an encrypted private
/// room of alice and carol at key version 2, each holding both versions, with two encrypted
/// messages (the ciphertext stands in for [`SECRET`], which never reaches the store).
fn add_encryption(store: &Store) {
    store.put_identity_key("alice", &identity(1)).unwrap();
    store.put_identity_key("carol", &identity(3)).unwrap();
    add_room_of(
        store,
        room_id(7),
        "vault",
        RoomKind::Private,
        &["alice", "carol"],
        NOW + 3_600_000,
        NOW,
    );
    let mut record = store.room(room_id(7)).unwrap().unwrap();
    record.encrypted = true;
    record.key_version = 2;
    store
        .rooms
        .insert(
            super::keys::room(room_id(7)),
            crate::store::records::encode(&record),
        )
        .unwrap();
    for version in [1, 2] {
        store
            .put_room_keys(
                room_id(7),
                version,
                &[
                    ("alice".into(), wrapped("alice", version as u8)),
                    ("carol".into(), wrapped("alice", 10 + version as u8)),
                ],
            )
            .unwrap();
    }
    for seq in [1u64, 2] {
        let mut sealed = message("alice", seq, None);
        sealed.body = String::new();
        sealed.ordinal = Some(seq);
        sealed.encrypted = Some(EncryptedBody {
            ciphertext: Base64::encode_string(&[seq as u8; 40]),
            iv: Base64::encode_string(&[seq as u8; 12]),
            key_version: seq as u32,
        });
        store
            .append_messages(&[&EncodedMessage::new(room_id(7), seq, &sealed)])
            .unwrap();
    }
}

#[test]
fn identity_keys_room_keys_and_ciphertext_round_trip_exactly() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    add_encryption(&source);
    let (bytes, stats) = backup(&source, true);
    assert_eq!((stats.identity_keys, stats.room_keys), (2, 4));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(!text.contains(SECRET));
    // Keys sit right after their owners.
    let kinds: Vec<String> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["type"]
                .as_str()
                .unwrap_or("header")
                .to_string()
        })
        .collect();
    let first_key = kinds.iter().position(|k| k == "room_key").unwrap();
    assert_eq!(
        &kinds[first_key - 1..first_key + 5],
        ["member", "room_key", "room_key", "member", "room_key", "room_key"]
    );

    let path = save(&dir, "e2e.backup", &bytes);
    let target = open(&dir, "target");
    assert_eq!(target.restore_backup(&path, &mut |_| {}).unwrap(), stats);
    assert_eq!(dump(&target), dump(&source));
    assert_eq!(target.identity_key("carol").unwrap(), Some(identity(3)));
    assert_eq!(target.room_keys_of(room_id(7), "carol").unwrap().len(), 2);
}

#[test]
fn bad_key_lines_are_refused_with_their_line() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    add_encryption(&source);
    let (bytes, _) = backup(&source, true);
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first = |kind: &str| {
        lines
            .iter()
            .position(|l| l.contains(&format!(r#""type":"{kind}""#)))
            .unwrap()
    };
    let room_key = first("room_key");
    let identity_key = first("identity_key");
    let swaps: Vec<(usize, String, &str)> = vec![
        // A key version beyond the room's.
        (
            room_key,
            lines[room_key].replacen(r#""key_version":1"#, r#""key_version":9"#, 1),
            "key version",
        ),
        // Not a point on the curve.
        (
            identity_key,
            lines[identity_key].replacen(&public_key(1), &Base64::encode_string(&[4u8; 65]), 1),
            "P-256",
        ),
        // A weak KDF.
        (
            identity_key,
            lines[identity_key].replacen("600000", "1000", 1),
            "600000",
        ),
    ];
    for (at, replacement, expect) in swaps {
        let mut changed: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        changed[at] = replacement.as_bytes();
        let err = check(&resealed(&changed)).unwrap_err();
        assert!(err.to_string().contains(expect), "{expect}: {err}");
        assert!(
            err.to_string().contains(&format!("line {}", at + 1)),
            "{err}"
        );
    }
    // A room key moved before its member's line.
    let mut moved: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    moved.swap(room_key, room_key - 1);
    assert!(check(&resealed(&moved))
        .unwrap_err()
        .to_string()
        .contains("out of place"));
}
