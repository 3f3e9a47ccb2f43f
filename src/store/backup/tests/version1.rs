//! Backups written before membership existed (format version 1) still restore.

use tempfile::TempDir;

use super::damaged::{check, header, sealed};
use super::{open, room_id, save, NOW};
use crate::store::{Role, RoomKind};

/// A version 1 file: alice made "general", bob and a since-deleted user wrote in it.
fn version_1_file() -> Vec<u8> {
    let room = room_id(1);
    let user = |name: &str| {
        format!(
            r#"{{"type":"user","record":{{"username":"{name}","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g","is_admin":false,"created_at_ms":1}}}}"#
        )
    };
    let message = |seq: u64, author: &str| {
        format!(
            r#"{{"type":"message","room":"{room}","seq":{seq},"record":{{"author":"{author}","body":"hi {seq}","sent_at_ms":{}}}}}"#,
            NOW + seq
        )
    };
    let lines = vec![
        header(),
        user("alice"),
        user("bob"),
        format!(
            r#"{{"type":"room","id":"{room}","last_seq":3,"record":{{"id":"{room}","name":"general","created_by":"alice","created_at_ms":{NOW},"expires_at_ms":{}}}}}"#,
            NOW + 1_000_000
        ),
        message(1, "bob"),
        message(2, "ghost"),
        message(3, "bob"),
    ];
    sealed(&lines, [2, 0, 1, 3])
}

#[test]
fn version_1_rooms_become_public_rooms_of_their_creator_and_authors() {
    let bytes = version_1_file();
    let stats = check(&bytes).expect("a version 1 file verifies");
    assert_eq!((stats.rooms, stats.messages, stats.members), (1, 3, 0));

    let dir = TempDir::new().unwrap();
    let path = save(&dir, "v1.backup", &bytes);
    let store = open(&dir, "target");
    store.restore_backup(&path, &mut |_| {}).expect("restore");

    let room = store.room(room_id(1)).unwrap().expect("room restored");
    assert_eq!(room.kind, RoomKind::Public);
    assert_eq!(room.member_count, 2);
    let members = store.members(room_id(1)).unwrap();
    let roles: Vec<(&str, Role)> = members
        .iter()
        .map(|(name, member)| (name.as_str(), member.role))
        .collect();
    // The deleted author is left out; the creator owns the room.
    assert_eq!(roles, vec![("alice", Role::Owner), ("bob", Role::Member)]);
    assert_eq!(
        members[1].1.joined_at_ms,
        NOW + 1,
        "joined at their first message"
    );
    assert_eq!(store.public_room_ids().unwrap(), vec![room_id(1)]);
    assert_eq!(store.rooms_of("bob").unwrap(), vec![room_id(1)]);
}

#[test]
fn member_lines_are_refused_in_a_version_1_file() {
    let room = room_id(1);
    let lines = vec![
        header(),
        format!(
            r#"{{"type":"room","id":"{room}","last_seq":0,"record":{{"id":"{room}","name":"general","created_by":"alice","created_at_ms":1,"expires_at_ms":2}}}}"#
        ),
        format!(
            r#"{{"type":"member","room":"{room}","username":"alice","record":{{"role":"owner","joined_at_ms":1}}}}"#
        ),
    ];
    let err = check(&sealed(&lines, [0, 0, 1, 0])).expect_err("refused");
    assert!(err.to_string().contains("line 3"), "{err}");
}
