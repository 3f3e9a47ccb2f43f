//! Backups against a real sled in a temporary directory.

#![allow(clippy::unwrap_used)]

mod attachments;
mod damaged;
mod encryption;
mod live;
mod push;
mod version1;
mod version2;
mod version3;
mod version4;
mod version5;
mod version6;
mod webhooks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{BackupError, BackupOptions, BackupStats};
use crate::ids::RoomId;
use crate::store::{
    keys, EncodedMessage, InsertRoom, InviteRecord, MemberRecord, MessageRecord, Role, RoomKind,
    RoomRecord, SessionRecord, Store, TokenRecord, UserRecord,
};

const NOW: u64 = 1_767_225_600_000;
const HOUR: u64 = 3_600_000;

fn open(dir: &TempDir, name: &str) -> Store {
    Store::open(&dir.path().join(name), 16).unwrap()
}

fn user(name: &str, admin: bool, locked: bool) -> UserRecord {
    UserRecord {
        username: name.to_string(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${name}hash"),
        is_admin: admin,
        locked,
        created_at_ms: NOW - 10 * HOUR,
        is_bot: false,
        bot_owner: None,
    }
}

/// A bot owned by `owner`: no password, tokens only.
fn bot(name: &str, owner: &str) -> UserRecord {
    UserRecord {
        password_hash: String::new(),
        is_bot: true,
        bot_owner: Some(owner.to_string()),
        ..user(name, false, false)
    }
}

/// An access token of `username`; `n` makes its id and times differ.
fn token(username: &str, n: u8, expires: bool) -> ([u8; 32], [u8; 16], TokenRecord) {
    let id = ulid::Ulid::from_parts(NOW + u64::from(n), u128::from(n));
    let record = TokenRecord {
        id: id.to_string(),
        username: username.to_string(),
        name: format!("token {n}"),
        scopes: vec!["read".into(), "write".into()],
        created_at_ms: NOW + u64::from(n),
        expires_at_ms: expires.then_some(NOW + HOUR + u64::from(n)),
        last_used_at_ms: (n % 2 == 0).then_some(NOW),
    };
    ([n; 32], id.to_bytes(), record)
}

fn session(name: &str, n: u64) -> SessionRecord {
    SessionRecord {
        username: name.to_string(),
        created_at_ms: NOW - n,
        last_seen_ms: NOW + n,
    }
}

fn add_room(store: &Store, id: RoomId, name: &str, expires_at_ms: u64, now: u64) {
    add_room_of(
        store,
        id,
        name,
        RoomKind::Public,
        &["alice"],
        expires_at_ms,
        now,
    );
}

/// A room of `kind` whose first member (the owner) and others are `members`.
fn add_room_of(
    store: &Store,
    id: RoomId,
    name: &str,
    kind: RoomKind,
    members: &[&str],
    expires_at_ms: u64,
    now: u64,
) {
    let record = RoomRecord {
        id: id.to_string(),
        name: name.to_string(),
        created_by: members[0].to_string(),
        created_at_ms: now,
        expires_at_ms,
        kind,
        topic: String::new(),
        member_count: 0,
        encrypted: false,
        key_version: 0,
    };
    let members: Vec<(String, MemberRecord)> = members
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let role = if index == 0 {
                Role::Owner
            } else {
                Role::Member
            };
            let joined_at_ms = now + index as u64;
            (name.to_string(), MemberRecord { role, joined_at_ms })
        })
        .collect();
    assert_eq!(
        store.insert_room(id, &record, &members, now).unwrap(),
        InsertRoom::Inserted
    );
}

fn message(author: &str, n: u64, nonce: Option<&str>) -> MessageRecord {
    MessageRecord::new(
        author.to_string(),
        format!("message {n} from {author}: \"quoted\" \\ \u{1F600} \n tab\t"),
        NOW + n,
        nonce.map(str::to_string),
    )
}

fn room_id(n: u8) -> RoomId {
    let mut bytes = [0u8; 16];
    bytes[0] = 1;
    bytes[15] = n;
    RoomId::from_bytes(bytes)
}

/// Users with sessions and a bot with access tokens; a live room with messages (some with
/// nonces, edits, a tombstone, one posted by a webhook), an empty room, an expired room whose
/// name a newer live room has taken over, a private room with an invite, a direct room; and
/// webhooks (see `webhooks::add_webhooks`).
fn populate(store: &Store) {
    store.put_user(&user("alice", true, false)).unwrap();
    store.put_user(&user("Bob", false, true)).unwrap();
    store.put_user(&user("carol", false, false)).unwrap();
    store
        .insert_session(&[3; 32], &session("alice", 1))
        .unwrap();
    store
        .insert_session(&[1; 32], &session("alice", 2))
        .unwrap();
    store.insert_session(&[2; 32], &session("Bob", 3)).unwrap();
    // A bot with two tokens (inserted out of hash order), and a token of alice.
    store.put_user(&bot("deploy-bot", "alice")).unwrap();
    for (hash, id, record) in [
        token("deploy-bot", 9, true),
        token("deploy-bot", 4, false),
        token("alice", 7, true),
    ] {
        store.insert_token(&hash, id, &record).unwrap();
    }

    add_room(store, room_id(1), "old", NOW - HOUR, NOW - 2 * HOUR);
    for seq in 1..=3 {
        let nonce = format!("old-{seq}");
        store
            .insert_message(room_id(1), seq, &message("bob", seq, Some(&nonce)))
            .unwrap();
    }
    add_room(store, room_id(2), "general", NOW + 24 * HOUR, NOW);
    for seq in 1..=5 {
        let nonce = (seq % 2 == 1).then(|| format!("n-{seq}"));
        let author = if seq % 2 == 0 { "alice" } else { "Bob" };
        let mut record = message(author, seq, nonce.as_deref());
        if seq == 5 {
            record.webhook = Some(webhooks::stamp());
        }
        if seq == 3 {
            // Mentions (the index is rebuilt from them on restore) and an ordinal.
            record.mentions = vec!["alice".into(), "room".into()];
            record.ordinal = Some(3);
        }
        store.insert_message(room_id(2), seq, &record).unwrap();
    }
    // Changed messages: an edit with a reply and reactions (changed twice, so the change index
    // holds only its latest change), and a tombstone.
    let original = message("alice", 2, None);
    let mut edited = original.clone();
    edited.body = "edited".into();
    edited.edited_at_ms = Some(NOW + 10);
    edited.reply_to = Some(1);
    edited.changed_seq = Some(6);
    let mut reacted = edited.clone();
    reacted.reactions = vec![crate::store::ReactionRecord {
        emoji: "👍".into(),
        users: vec!["Bob".into(), "carol".into()],
    }];
    reacted.changed_seq = Some(7);
    let original_4 = message("alice", 4, None);
    let mut tombstone = original_4.clone();
    tombstone.body = String::new();
    tombstone.deleted = true;
    tombstone.changed_seq = Some(8);
    let changes = [
        EncodedMessage::changed(room_id(2), 2, &edited, &original),
        EncodedMessage::changed(room_id(2), 2, &reacted, &edited),
        EncodedMessage::changed(room_id(2), 4, &tombstone, &original_4),
    ];
    store
        .append_messages(&changes.iter().collect::<Vec<_>>())
        .unwrap();
    assert_eq!(store.changes.len(), 2, "one entry per changed message");
    assert_eq!(store.last_seq(room_id(2)).unwrap(), 8);
    add_room(store, room_id(3), "quiet", NOW + HOUR, NOW);
    add_room(store, room_id(4), "OLD", NOW + 2 * HOUR, NOW);
    store
        .insert_message(room_id(4), 1, &message("carol", 1, Some("x")))
        .unwrap();
    let private = ["alice", "bob", "carol"];
    add_room_of(
        store,
        room_id(5),
        "plans",
        RoomKind::Private,
        &private,
        NOW + HOUR,
        NOW,
    );
    let invite = InviteRecord {
        id: "0101010101010101".into(),
        room: room_id(5).to_string(),
        created_by: "bob".into(),
        created_at_ms: NOW,
        expires_at_ms: NOW + HOUR,
        max_uses: Some(3),
        uses: 1,
    };
    store.insert_invite(room_id(5), &[1; 32], &invite).unwrap();
    add_room_of(
        store,
        room_id(6),
        "",
        RoomKind::Direct,
        &["carol", "alice"],
        NOW + HOUR,
        NOW,
    );
    webhooks::add_webhooks(store);
    // alice has read "general" up to message 3 and hears about everything there.
    let marker = crate::store::ReadMarkerRecord {
        message: 3,
        ordinal: 3,
        mentions: None,
    };
    let (marker, _) = store
        .advance_read_marker(room_id(2), "alice", marker)
        .unwrap();
    store
        .set_notification_level(room_id(2), "alice", crate::store::NotificationLevel::All)
        .unwrap();
    // Message 3 names her and says @room: one message, one mention.
    assert_eq!(store.mention_count(room_id(2), "alice", None).unwrap(), 1);
    assert_eq!(
        store
            .mention_count(room_id(2), "alice", Some(&marker))
            .unwrap(),
        0
    );
}

type Dump = BTreeMap<&'static str, Vec<(Vec<u8>, Vec<u8>)>>;

/// Every tree, raw: restoring must reproduce these bytes exactly.
fn dump(store: &Store) -> Dump {
    let trees = [
        ("users", &store.users),
        ("sessions", &store.sessions),
        ("user_sessions", &store.user_sessions),
        ("rooms", &store.rooms),
        ("room_names", &store.room_names),
        ("room_expiry", &store.room_expiry),
        ("messages", &store.messages),
        ("nonces", &store.nonces),
        ("changes", &store.changes),
        ("room_members", &store.room_members),
        ("user_rooms", &store.user_rooms),
        ("public_rooms", &store.public_rooms),
        ("direct_rooms", &store.direct_rooms),
        ("invites", &store.invites),
        ("room_invites", &store.room_invites),
        ("tokens", &store.tokens),
        ("user_tokens", &store.user_tokens),
        ("token_expiry", &store.token_expiry),
        ("webhooks", &store.webhooks),
        ("incoming_hooks", &store.incoming_hooks),
        ("read_markers", &store.read_markers),
        ("notification_levels", &store.notification_levels),
        ("mention_index", &store.mention_index),
        ("mention_totals", &store.mention_totals),
        ("push_subscriptions", &store.push_subscriptions),
        ("identity_keys", &store.identity_keys),
        ("room_keys", &store.room_keys),
        ("attachments", &store.attachments),
        ("room_attachments", &store.room_attachments),
        ("user_attachments", &store.user_attachments),
    ];
    trees
        .into_iter()
        .map(|(name, tree)| {
            let entries = tree
                .iter()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            (name, entries)
        })
        .collect()
}

fn backup(store: &Store, include_sessions: bool) -> (Vec<u8>, BackupStats) {
    let mut out = Vec::new();
    let mut reported = Vec::new();
    let stats = store
        .write_backup(&mut out, BackupOptions { include_sessions }, &mut |n| {
            reported.push(n)
        })
        .unwrap();
    assert_eq!(stats.bytes, out.len() as u64);
    assert_eq!(reported.last(), Some(&stats.bytes));
    assert!(reported.windows(2).all(|w| w[0] <= w[1]));
    (out, stats)
}

fn save(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn verify(path: &Path) -> Result<BackupStats, BackupError> {
    Store::verify_backup(path, &mut |_| {})
}

#[test]
fn round_trip_restores_every_record_and_index_exactly() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    let (bytes, stats) = backup(&source, true);
    let expected = BackupStats {
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
        bytes: bytes.len() as u64,
    };
    assert_eq!(stats, expected);
    let path = save(&dir, "full.backup", &bytes);
    assert_eq!(verify(&path).unwrap(), expected);

    let target = open(&dir, "target");
    let mut reported = Vec::new();
    let restored = target
        .restore_backup(&path, &mut |n| reported.push(n))
        .unwrap();
    assert_eq!(restored, expected);
    assert_eq!(reported.last(), Some(&(2 * expected.bytes)));
    assert_eq!(dump(&target), dump(&source));

    // The rebuilt indexes work through the normal API.
    assert_eq!(target.nonce_seq(room_id(2), "Bob", "n-3").unwrap(), Some(3));
    assert_eq!(
        target.nonce_seq(room_id(1), "bob", "old-2").unwrap(),
        Some(2)
    );
    assert_eq!(target.nonce_seq(room_id(2), "alice", "n-3").unwrap(), None);
    // Changes count: the sequence goes on after the last change, not the last message.
    assert_eq!(target.last_seq(room_id(2)).unwrap(), 8);
    let changed = target.changed_since(room_id(2), 5, 5, 8, 100).unwrap();
    let ids: Vec<u64> = changed.messages.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        [2, 4],
        "edits, reactions and tombstones replay after a restore"
    );
    assert_eq!(changed.messages[0].1.reactions.len(), 1);
    assert!(changed.messages[1].1.deleted);
    let expired: Vec<_> = target
        .expired_rooms(NOW, 10)
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(expired, vec![room_id(1)]);
    let taken = RoomRecord {
        id: room_id(9).to_string(),
        name: "Old".into(),
        created_by: "x".into(),
        created_at_ms: NOW,
        expires_at_ms: NOW + HOUR,
        kind: RoomKind::Public,
        topic: String::new(),
        member_count: 0,
        encrypted: false,
        key_version: 0,
    };
    assert_eq!(
        target.insert_room(room_id(9), &taken, &[], NOW).unwrap(),
        InsertRoom::NameTaken
    );
    // Membership indexes: a user's rooms, the direct room of a set of people, counts.
    assert_eq!(
        target.rooms_of("carol").unwrap(),
        vec![room_id(5), room_id(6)]
    );
    let pair = ["alice".to_string(), "carol".to_string()];
    assert_eq!(target.direct_room(&pair, false).unwrap(), Some(room_id(6)));
    assert_eq!(target.room(room_id(5)).unwrap().unwrap().member_count, 3);
    assert_eq!(target.invite(&[1; 32]).unwrap().unwrap().uses, 1);
    assert_eq!(target.session(&[2; 32]).unwrap(), Some(session("Bob", 3)));
    assert_eq!(target.delete_sessions_of("ALICE").unwrap(), 2);
    // Bots stay bots; tokens are found by hash, by owner and by expiry.
    assert_eq!(
        target.user("deploy-bot").unwrap(),
        Some(bot("deploy-bot", "alice"))
    );
    assert_eq!(
        target.token(&[4; 32]).unwrap(),
        Some(token("deploy-bot", 4, false).2)
    );
    let names: Vec<String> = target
        .tokens_of("deploy-bot")
        .unwrap()
        .into_iter()
        .map(|(_, t)| t.name)
        .collect();
    assert_eq!(names, ["token 4", "token 9"], "by id: creation order");
    let expiring = target.expired_tokens(NOW + 2 * HOUR, 10).unwrap();
    assert_eq!(expiring.len(), 2);
}

#[test]
fn sessions_are_left_out_unless_asked_for() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    let (bytes, stats) = backup(&source, false);
    assert_eq!(stats.sessions, 0);
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "b", &bytes), &mut |_| {})
        .unwrap();
    let (mut want, got) = (dump(&source), dump(&target));
    want.insert("sessions", Vec::new());
    want.insert("user_sessions", Vec::new());
    assert_eq!(got, want);
    assert_eq!(target.session(&[1; 32]).unwrap(), None);
}

#[test]
fn an_empty_store_backs_up_and_restores() {
    let dir = TempDir::new().unwrap();
    let (bytes, stats) = backup(&open(&dir, "source"), true);
    assert_eq!(stats.messages + stats.rooms + stats.users, 0);
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "b", &bytes), &mut |_| {})
        .unwrap();
    assert!(target.is_empty().unwrap());
}
#[test]
fn restore_refuses_a_non_empty_store_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    let (bytes, _) = backup(&source, true);
    let target = open(&dir, "target");
    target.put_user(&user("zed", false, false)).unwrap();
    let before = dump(&target);
    let result = target.restore_backup(&save(&dir, "b", &bytes), &mut |_| {});
    assert!(matches!(result, Err(BackupError::NotEmpty)));
    assert_eq!(dump(&target), before);
}

#[test]
fn a_corrupt_or_truncated_file_restores_nothing() {
    let dir = TempDir::new().unwrap();
    let source = open(&dir, "source");
    populate(&source);
    let (bytes, _) = backup(&source, true);
    let target = open(&dir, "target");
    let mut flipped = bytes.clone();
    flipped[bytes.len() * 2 / 3] ^= 0x04;
    let result = target.restore_backup(&save(&dir, "flipped", &flipped), &mut |_| {});
    assert!(matches!(result, Err(BackupError::Checksum)), "{result:?}");
    assert!(target.is_empty().unwrap());
    let cut = &bytes[..bytes.len() - 20];
    let result = target.restore_backup(&save(&dir, "cut", cut), &mut |_| {});
    assert!(matches!(result, Err(BackupError::Truncated)), "{result:?}");
    assert!(target.is_empty().unwrap());
    // The store is still usable for a good file afterwards.
    target
        .restore_backup(&save(&dir, "good", &bytes), &mut |_| {})
        .unwrap();
    assert_eq!(dump(&target), dump(&source));
}

#[test]
fn taken_back_messages_stay_holes_and_half_deleted_rooms_are_left_out() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    add_room(&store, room_id(1), "holey", NOW + HOUR, NOW);
    for seq in 1..=4 {
        let nonce = format!("n{seq}");
        store
            .insert_message(room_id(1), seq, &message("a", seq, Some(&nonce)))
            .unwrap();
    }
    // Taken back after a failed flush (what `remove_message` does).
    store
        .nonces
        .remove(keys::nonce(room_id(1), "a", "n3"))
        .unwrap();
    store.messages.remove(keys::message(room_id(1), 3)).unwrap();
    // What `delete_room` leaves when a crash interrupts it: the room marked expired at 0.
    add_room(&store, room_id(2), "doomed", 0, 0);
    store
        .insert_message(room_id(2), 1, &message("a", 1, None))
        .unwrap();

    let (bytes, stats) = backup(&store, false);
    assert_eq!((stats.rooms, stats.messages), (1, 3));
    let target = open(&dir, "target");
    target
        .restore_backup(&save(&dir, "b", &bytes), &mut |_| {})
        .unwrap();
    // Expected: the source without any entry of the half-deleted room, in any tree.
    let doomed = room_id(2).to_bytes();
    let mut want = dump(&store);
    for entries in want.values_mut() {
        entries.retain(|(k, v)| !(k.starts_with(&doomed) || k.ends_with(&doomed) || *v == doomed));
    }
    assert_eq!(dump(&target), want);
    assert_eq!(target.nonce_seq(room_id(1), "a", "n3").unwrap(), None);
    assert_eq!(target.nonce_seq(room_id(1), "a", "n4").unwrap(), Some(4));
}

#[test]
fn a_read_marker_that_moved_past_the_mark_is_brought_back_to_the_last_message_before_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, "source");
    add_room(&store, room_id(1), "busy", NOW + HOUR, NOW);
    for seq in [1, 2, 4, 5] {
        let mut record = message("a", seq, None);
        record.ordinal = Some(if seq < 3 { seq } else { seq - 1 });
        store.insert_message(room_id(1), seq, &record).unwrap();
    }
    let marker = |message, ordinal| crate::store::ReadMarkerRecord {
        message,
        ordinal,
        mentions: Some(2),
    };
    // Within the mark: kept as it is, less the derived mention count.
    assert_eq!(
        store
            .read_marker_within(room_id(1), marker(2, 2), 4)
            .unwrap(),
        Some(marker(2, 2)).map(|m| crate::store::ReadMarkerRecord {
            mentions: None,
            ..m
        })
    );
    // Read up to 5 while the backup, marked at 3, ran: message 3 is a hole, so 2 it is.
    let back = store
        .read_marker_within(room_id(1), marker(5, 4), 3)
        .unwrap();
    assert_eq!(
        back.map(|m| (m.message, m.ordinal, m.mentions)),
        Some((2, 2, None))
    );
    // Marked at 4: message 4 exists and is the third message.
    let back = store
        .read_marker_within(room_id(1), marker(5, 4), 4)
        .unwrap();
    assert_eq!(back.map(|m| (m.message, m.ordinal)), Some((4, 3)));
    // A room that had no message at its mark keeps no marker.
    assert_eq!(
        store
            .read_marker_within(room_id(1), marker(5, 4), 0)
            .unwrap(),
        None
    );
}
