//! Every byte layout of every sled key lives here, and nowhere else.
//!
//! Numbers are big-endian so that sled's byte order is numeric order: a range scan over
//! `room_expiry` walks rooms by expiry time, one over `messages` walks a room in send order.
//!
//! | tree            | key                                        | value            |
//! |-----------------|--------------------------------------------|------------------|
//! | `users`         | lowercase username                         | `UserRecord`     |
//! | `sessions`      | sha256(token) (32 bytes)                   | `SessionRecord`  |
//! | `user_sessions` | username 0x00 sha256(token)                | empty            |
//! | `rooms`         | room id (16 bytes, ULID)                   | `RoomRecord`     |
//! | `room_names`    | lowercase room name                        | room id          |
//! | `room_expiry`   | expires_at ms (u64 BE) room id             | empty            |
//! | `messages`      | room id, seq (u64 BE)                      | `MessageRecord`  |
//! | `nonces`        | room id, username 0x00 nonce               | seq (u64 BE)     |
//! | `room_members`  | room id, lowercase username                | `MemberRecord`   |
//! | `user_rooms`    | lowercase username 0x00 room id            | empty            |
//! | `public_rooms`  | room id                                    | empty            |
//! | `direct_rooms`  | sorted member usernames joined by 0x00     | room id          |
//! | `invites`       | sha256(invite code) (32 bytes)             | `InviteRecord`   |
//! | `room_invites`  | room id, sha256(invite code)               | empty            |
//! | `meta`          | `schema`                                   | version (u64 BE) |
//! | `tokens`        | sha256(access token secret) (32 bytes)     | `TokenRecord`    |
//! | `user_tokens`   | lowercase username 0x00 token id (16 bytes, ULID) | sha256(secret) |
//! | `token_expiry`  | expires_at ms (u64 BE) sha256(secret)      | empty            |
//! | `webhooks`      | room id, webhook id (16 bytes, ULID)       | `WebhookRecord`  |
//! | `incoming_hooks`| sha256(incoming webhook secret) (32 bytes) | room id, webhook id |
//! | `deliveries`    | webhook id, delivery id (16 bytes, ULID)   | `DeliveryRecord` |
//! | `delivery_queue`| due at ms (u64 BE), delivery id            | room id, webhook id |
//! | `read_markers`  | room id, lowercase username                | `ReadMarkerRecord` |
//! | `notification_levels` | room id, lowercase username          | `NotificationLevel` |
//! | `mention_index` | room id, lowercase username 0x00 seq (u64 BE) | mentions so far (u64 BE) |
//! | `mention_totals`| room id, lowercase username                | mentions so far (u64 BE) |
//! |                 | room id (alone: the room's newest mention) | seq (u64 BE)     |
//! | `attachments`   | attachment id (16 bytes, ULID)             | `AttachmentRecord` |
//! | `room_attachments` | room id, attachment id                  | empty            |
//! | `user_attachments` | lowercase username 0x00 attachment id   | size (u64 BE)    |
//! | `push_subscriptions` | lowercase username 0x00 sha256(endpoint) | `PushSubscriptionRecord` |
//! | `meta`          | `vapid_key`                                | P-256 secret scalar (32 bytes) |
//! | `identity_keys` | lowercase username                         | `IdentityKeyRecord` |
//! | `room_keys`     | room id, lowercase username 0x00 key version (u32 BE) | `RoomKeyRecord` |

use super::StoreError;
use crate::ids::{AttachmentId, RoomId};

pub const ROOM_ID_LEN: usize = 16;
pub const TOKEN_HASH_LEN: usize = 32;
/// Access token ids are ULIDs: 16 bytes, sorting by creation time.
pub const TOKEN_ID_LEN: usize = 16;

pub fn user(username: &str) -> Vec<u8> {
    username.to_ascii_lowercase().into_bytes()
}

/// Prefix of all sessions of one user; usernames never contain 0x00, so prefixes cannot overlap.
pub fn user_sessions_prefix(username: &str) -> Vec<u8> {
    let mut key = user(username);
    key.push(0);
    key
}

pub fn user_session(username: &str, token_hash: &[u8; TOKEN_HASH_LEN]) -> Vec<u8> {
    let mut key = user_sessions_prefix(username);
    key.extend_from_slice(token_hash);
    key
}

/// The key of the server's VAPID (Web Push) signing key in `meta`.
pub const VAPID_KEY: &[u8] = b"vapid_key";

/// Prefix of all push subscriptions of one user.
pub fn user_push_prefix(username: &str) -> Vec<u8> {
    user_sessions_prefix(username)
}

pub fn push_subscription(username: &str, endpoint_hash: &[u8; 32]) -> Vec<u8> {
    let mut key = user_push_prefix(username);
    key.extend_from_slice(endpoint_hash);
    key
}

/// The username a `push_subscriptions` key belongs to.
pub fn parse_push_subscription(key: &[u8]) -> Result<String, StoreError> {
    let end = key
        .len()
        .checked_sub(33)
        .filter(|end| key.get(*end) == Some(&0));
    end.and_then(|end| std::str::from_utf8(&key[..end]).ok())
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Corrupt("push subscription key".into()))
}

pub fn room(id: RoomId) -> [u8; ROOM_ID_LEN] {
    id.to_bytes()
}

pub fn room_name(name: &str) -> Vec<u8> {
    name.to_lowercase().into_bytes()
}

pub fn room_expiry(expires_at_ms: u64, id: RoomId) -> [u8; 8 + ROOM_ID_LEN] {
    let mut key = [0u8; 8 + ROOM_ID_LEN];
    key[..8].copy_from_slice(&expires_at_ms.to_be_bytes());
    key[8..].copy_from_slice(&id.to_bytes());
    key
}

/// Splits a `room_expiry` key back into its expiry time and room.
pub fn parse_room_expiry(key: &[u8]) -> Result<(u64, RoomId), StoreError> {
    if key.len() != 8 + ROOM_ID_LEN {
        return Err(StoreError::Corrupt(format!(
            "room_expiry key of {} bytes",
            key.len()
        )));
    }
    let at = u64::from_be_bytes(key[..8].try_into().map_err(|_| corrupt("room_expiry"))?);
    Ok((at, parse_room_id(&key[8..])?))
}

pub fn parse_room_id(bytes: &[u8]) -> Result<RoomId, StoreError> {
    let array: [u8; ROOM_ID_LEN] = bytes.try_into().map_err(|_| corrupt("room id"))?;
    Ok(RoomId::from_bytes(array))
}

pub fn message(room: RoomId, seq: u64) -> [u8; ROOM_ID_LEN + 8] {
    let mut key = [0u8; ROOM_ID_LEN + 8];
    key[..ROOM_ID_LEN].copy_from_slice(&room.to_bytes());
    key[ROOM_ID_LEN..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub fn parse_message_seq(key: &[u8]) -> Result<u64, StoreError> {
    let tail: [u8; 8] = key
        .get(ROOM_ID_LEN..)
        .and_then(|tail| tail.try_into().ok())
        .ok_or_else(|| corrupt("message key"))?;
    Ok(u64::from_be_bytes(tail))
}

pub fn nonce(room: RoomId, username: &str, nonce: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(ROOM_ID_LEN + username.len() + 1 + nonce.len());
    key.extend_from_slice(&room.to_bytes());
    key.extend_from_slice(username.as_bytes());
    key.push(0);
    key.extend_from_slice(nonce.as_bytes());
    key
}

/// A room's membership entry; room ids have a fixed length, so one room's prefix never
/// covers another's.
pub fn room_member(room: RoomId, username: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(ROOM_ID_LEN + username.len());
    key.extend_from_slice(&room.to_bytes());
    key.extend_from_slice(user(username).as_slice());
    key
}

pub fn parse_room_member(key: &[u8]) -> Result<(RoomId, String), StoreError> {
    if key.len() <= ROOM_ID_LEN {
        return Err(corrupt("room_members key"));
    }
    let room = parse_room_id(&key[..ROOM_ID_LEN])?;
    let username =
        String::from_utf8(key[ROOM_ID_LEN..].to_vec()).map_err(|_| corrupt("room_members key"))?;
    Ok((room, username))
}

/// Prefix of every room `username` belongs to (usernames never contain 0x00).
pub fn user_rooms_prefix(username: &str) -> Vec<u8> {
    user_sessions_prefix(username)
}

pub fn user_room(username: &str, room: RoomId) -> Vec<u8> {
    let mut key = user_rooms_prefix(username);
    key.extend_from_slice(&room.to_bytes());
    key
}

/// The room id at the end of a `user_rooms` key.
pub fn parse_user_room(key: &[u8]) -> Result<RoomId, StoreError> {
    let start = key
        .len()
        .checked_sub(ROOM_ID_LEN)
        .ok_or_else(|| corrupt("user_rooms key"))?;
    parse_room_id(&key[start..])
}

/// The set of people in a direct room, as one key: sorted, deduplicated, lowercase, joined by
/// 0x00, so the same people always find the same room whatever order they were named in. An
/// encrypted direct room is a room of its own beside the plain one: its key ends in 0x00 0x00
/// `e` (no username is empty, so no plain key has two 0x00 in a row).
pub fn direct_members(usernames: &[String], encrypted: bool) -> Vec<u8> {
    let mut names: Vec<Vec<u8>> = usernames.iter().map(|name| user(name)).collect();
    names.sort();
    names.dedup();
    let mut key = names.join(&0u8);
    if encrypted {
        key.extend_from_slice(b"\0\0e");
    }
    key
}

/// Every room key version `username` holds in `room`.
pub fn room_keys_prefix(room: RoomId, username: &str) -> Vec<u8> {
    let mut key = room_member(room, username);
    key.push(0);
    key
}

pub fn room_key(room: RoomId, username: &str, version: u32) -> Vec<u8> {
    let mut key = room_keys_prefix(room, username);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// The username and version of a `room_keys` key.
pub fn parse_room_key(key: &[u8]) -> Result<(String, u32), StoreError> {
    let bad = || corrupt("room_keys key");
    let tail = key.get(ROOM_ID_LEN..).ok_or_else(bad)?;
    let split = tail.len().checked_sub(5).ok_or_else(bad)?;
    if tail[split] != 0 {
        return Err(bad());
    }
    let username = String::from_utf8(tail[..split].to_vec()).map_err(|_| bad())?;
    let version: [u8; 4] = tail[split + 1..].try_into().map_err(|_| bad())?;
    Ok((username, u32::from_be_bytes(version)))
}

pub fn room_invite(room: RoomId, code_hash: &[u8; TOKEN_HASH_LEN]) -> [u8; ROOM_ID_LEN + 32] {
    let mut key = [0u8; ROOM_ID_LEN + TOKEN_HASH_LEN];
    key[..ROOM_ID_LEN].copy_from_slice(&room.to_bytes());
    key[ROOM_ID_LEN..].copy_from_slice(code_hash);
    key
}

pub fn parse_room_invite(key: &[u8]) -> Result<[u8; TOKEN_HASH_LEN], StoreError> {
    key.get(ROOM_ID_LEN..)
        .and_then(|tail| tail.try_into().ok())
        .ok_or_else(|| corrupt("room_invites key"))
}

/// Prefix of every access token of one user (usernames never contain 0x00).
pub fn user_tokens_prefix(username: &str) -> Vec<u8> {
    user_sessions_prefix(username)
}

/// A user's token by its public id, so `GET /api/tokens` lists them in creation order and
/// `DELETE /api/tokens/{id}` finds the hash without a scan.
pub fn user_token(username: &str, id: [u8; TOKEN_ID_LEN]) -> Vec<u8> {
    let mut key = user_tokens_prefix(username);
    key.extend_from_slice(&id);
    key
}

pub fn parse_token_hash(bytes: &[u8]) -> Result<[u8; TOKEN_HASH_LEN], StoreError> {
    bytes.try_into().map_err(|_| corrupt("token hash"))
}

pub fn token_expiry(expires_at_ms: u64, hash: &[u8; TOKEN_HASH_LEN]) -> [u8; 8 + TOKEN_HASH_LEN] {
    let mut key = [0u8; 8 + TOKEN_HASH_LEN];
    key[..8].copy_from_slice(&expires_at_ms.to_be_bytes());
    key[8..].copy_from_slice(hash);
    key
}

/// Splits a `token_expiry` key back into its expiry time and token hash.
pub fn parse_token_expiry(key: &[u8]) -> Result<(u64, [u8; TOKEN_HASH_LEN]), StoreError> {
    if key.len() != 8 + TOKEN_HASH_LEN {
        return Err(corrupt("token_expiry key"));
    }
    let at = u64::from_be_bytes(key[..8].try_into().map_err(|_| corrupt("token_expiry"))?);
    Ok((at, parse_token_hash(&key[8..])?))
}

pub const SCHEMA: &[u8] = b"schema";

pub fn seq_value(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn parse_seq_value(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| corrupt("sequence value"))?;
    Ok(u64::from_be_bytes(array))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("malformed {what}"))
}

/// A mention of `username` by message `seq` (by name or as `@room`). Its value is how many
/// messages of the room have mentioned the user up to and including this one, so the count
/// up to any message is one lookup (see `read_state`).
pub fn mention(room: RoomId, username: &str, seq: u64) -> Vec<u8> {
    let mut key = mentions_prefix(room, username);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Where `mention_totals` keeps the number of `room`'s newest message that mentions anyone:
/// the room's id alone, shorter than any (room, user) key.
pub fn newest_mention(room: RoomId) -> [u8; ROOM_ID_LEN] {
    room.to_bytes()
}

/// All mentions of `username` in `room`. Usernames are never empty and hold no 0x00, so one
/// user's prefix never covers another's.
pub fn mentions_prefix(room: RoomId, username: &str) -> Vec<u8> {
    let mut key = room_member(room, username);
    key.push(0);
    key
}

/// An attachment of a room; a room's prefix covers all of its attachments.
pub fn room_attachment(room: RoomId, id: AttachmentId) -> [u8; ROOM_ID_LEN + 16] {
    let mut key = [0u8; ROOM_ID_LEN + 16];
    key[..ROOM_ID_LEN].copy_from_slice(&room.to_bytes());
    key[ROOM_ID_LEN..].copy_from_slice(&id.to_bytes());
    key
}

pub fn parse_room_attachment(key: &[u8]) -> Result<AttachmentId, StoreError> {
    key.get(ROOM_ID_LEN..)
        .and_then(|id| <[u8; 16]>::try_from(id).ok())
        .map(AttachmentId::from_bytes)
        .ok_or_else(|| corrupt("room_attachments key"))
}

/// Prefix of all attachments uploaded by one user.
pub fn user_attachments_prefix(username: &str) -> Vec<u8> {
    let mut key = user(username);
    key.push(0);
    key
}

pub fn user_attachment(username: &str, id: AttachmentId) -> Vec<u8> {
    let mut key = user_attachments_prefix(username);
    key.extend_from_slice(&id.to_bytes());
    key
}

/// Webhook and delivery ids are ULIDs: 16 bytes, sorting by creation time.
pub const WEBHOOK_ID_LEN: usize = 16;

/// A room's webhook; a room's prefix covers all of its webhooks.
pub fn webhook(room: RoomId, id: [u8; WEBHOOK_ID_LEN]) -> [u8; ROOM_ID_LEN + WEBHOOK_ID_LEN] {
    let mut key = [0u8; ROOM_ID_LEN + WEBHOOK_ID_LEN];
    key[..ROOM_ID_LEN].copy_from_slice(&room.to_bytes());
    key[ROOM_ID_LEN..].copy_from_slice(&id);
    key
}

/// Splits a `webhooks` key (or an `incoming_hooks` / `delivery_queue` value) into room and id.
pub fn parse_webhook(bytes: &[u8]) -> Result<(RoomId, [u8; WEBHOOK_ID_LEN]), StoreError> {
    if bytes.len() != ROOM_ID_LEN + WEBHOOK_ID_LEN {
        return Err(corrupt("webhook key"));
    }
    let room = parse_room_id(&bytes[..ROOM_ID_LEN])?;
    let id = bytes[ROOM_ID_LEN..]
        .try_into()
        .map_err(|_| corrupt("webhook id"))?;
    Ok((room, id))
}

pub fn delivery(
    webhook: [u8; WEBHOOK_ID_LEN],
    id: [u8; WEBHOOK_ID_LEN],
) -> [u8; 2 * WEBHOOK_ID_LEN] {
    let mut key = [0u8; 2 * WEBHOOK_ID_LEN];
    key[..WEBHOOK_ID_LEN].copy_from_slice(&webhook);
    key[WEBHOOK_ID_LEN..].copy_from_slice(&id);
    key
}

pub fn delivery_due(due_at_ms: u64, id: [u8; WEBHOOK_ID_LEN]) -> [u8; 8 + WEBHOOK_ID_LEN] {
    let mut key = [0u8; 8 + WEBHOOK_ID_LEN];
    key[..8].copy_from_slice(&due_at_ms.to_be_bytes());
    key[8..].copy_from_slice(&id);
    key
}

/// Splits a `delivery_queue` key into its due time and delivery id.
pub fn parse_delivery_due(key: &[u8]) -> Result<(u64, [u8; WEBHOOK_ID_LEN]), StoreError> {
    if key.len() != 8 + WEBHOOK_ID_LEN {
        return Err(corrupt("delivery_queue key"));
    }
    let at = u64::from_be_bytes(key[..8].try_into().map_err(|_| corrupt("delivery due"))?);
    let id = key[8..].try_into().map_err(|_| corrupt("delivery id"))?;
    Ok((at, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_sort_in_sequence_order() {
        let room = RoomId::from_bytes([7; 16]);
        let seqs = [1u64, 2, 255, 256, 65_536, u64::MAX - 1];
        let keys: Vec<_> = seqs.iter().map(|&s| message(room, s)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for (key, seq) in keys.iter().zip(seqs) {
            assert_eq!(parse_message_seq(key).expect("parse"), seq);
        }
    }

    #[test]
    fn expiry_keys_sort_by_time_then_room_and_round_trip() {
        let a = RoomId::from_bytes([9; 16]);
        let b = RoomId::from_bytes([1; 16]);
        assert!(room_expiry(1_000, a) < room_expiry(1_001, b));
        assert_eq!(
            parse_room_expiry(&room_expiry(42, a)).expect("parse"),
            (42, a)
        );
        assert!(parse_room_expiry(b"short").is_err());
    }

    #[test]
    fn direct_member_keys_ignore_order_case_and_repeats() {
        let a = direct_members(&["Bob".into(), "ann".into()], false);
        let b = direct_members(&["ann".into(), "bob".into(), "BOB".into()], false);
        assert_eq!(a, b);
        assert_ne!(a, direct_members(&["ann".into(), "bobby".into()], false));
        // "ab"+"c" and "a"+"bc" must not collide.
        assert_ne!(
            direct_members(&["ab".into(), "c".into()], false),
            direct_members(&["a".into(), "bc".into()], false)
        );
        // The encrypted room of the same people is another room.
        let sealed = direct_members(&["ann".into(), "bob".into()], true);
        assert_ne!(a, sealed);
        assert_eq!(&sealed[..a.len()], &a[..]);
    }

    #[test]
    fn room_keys_of_one_member_never_cover_another_s() {
        let room = RoomId::from_bytes([5; 16]);
        let key = room_key(room, "Bob", 7);
        assert!(key.starts_with(&room_keys_prefix(room, "bob")));
        assert!(!room_key(room, "bobby", 1).starts_with(&room_keys_prefix(room, "bob")));
        assert_eq!(parse_room_key(&key).expect("parse"), ("bob".to_string(), 7));
        assert!(parse_room_key(&key[..key.len() - 1]).is_err());
    }

    #[test]
    fn membership_keys_round_trip() {
        let room = RoomId::from_bytes([3; 16]);
        let (parsed_room, name) = parse_room_member(&room_member(room, "Ann")).expect("parse");
        assert_eq!((parsed_room, name.as_str()), (room, "ann"));
        assert_eq!(
            parse_user_room(&user_room("ann", room)).expect("parse"),
            room
        );
        assert!(user_room("ann", room).starts_with(&user_rooms_prefix("ann")));
        assert!(!user_room("anna", room).starts_with(&user_rooms_prefix("ann")));
        let hash = [0x5A; 32];
        assert_eq!(
            parse_room_invite(&room_invite(room, &hash)).expect("parse"),
            hash
        );
        assert!(parse_room_member(&room.to_bytes()).is_err());
    }

    #[test]
    fn token_keys_round_trip_and_sort_by_expiry() {
        let hash = [0x42; TOKEN_HASH_LEN];
        let id = [7; TOKEN_ID_LEN];
        assert!(user_token("ann", id).ends_with(&id));
        assert!(user_token("ann", id).starts_with(&user_tokens_prefix("ann")));
        assert!(!user_token("anna", id).starts_with(&user_tokens_prefix("ann")));
        assert_eq!(
            parse_token_expiry(&token_expiry(99, &hash)).expect("parse"),
            (99, hash)
        );
        assert!(token_expiry(1_000, &[0xFF; 32]) < token_expiry(1_001, &[0; 32]));
        assert!(parse_token_expiry(b"short").is_err());
        assert!(parse_token_hash(b"short").is_err());
    }

    #[test]
    fn session_prefixes_do_not_overlap_between_users() {
        let hash = [0xAB; 32];
        assert!(!user_session("ann", &hash).starts_with(&user_sessions_prefix("an")));
        assert!(user_session("ann", &hash).starts_with(&user_sessions_prefix("ann")));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn room_id() -> impl Strategy<Value = RoomId> {
            any::<[u8; 16]>().prop_map(RoomId::from_bytes)
        }

        /// Sequence numbers: anywhere in `u64`, and often small, where neighbours collide in
        /// the low bytes and differ in no others.
        fn seq() -> impl Strategy<Value = u64> {
            prop_oneof![any::<u64>(), 0..1024u64, (u64::MAX - 1024)..=u64::MAX]
        }

        /// Two (room, number) pairs that share their room half of the time, so the number
        /// part of the order is exercised as often as the room part.
        fn two_pairs() -> impl Strategy<Value = ((RoomId, u64), (RoomId, u64))> {
            (room_id(), seq(), room_id(), seq(), any::<bool>()).prop_map(
                |(room_a, a, room_b, b, same_room)| {
                    let room_b = if same_room { room_a } else { room_b };
                    ((room_a, a), (room_b, b))
                },
            )
        }

        proptest! {
            #[test]
            fn message_key_byte_order_is_room_then_seq_order((a, b) in two_pairs()) {
                let (key_a, key_b) = (message(a.0, a.1), message(b.0, b.1));
                prop_assert_eq!(key_a.cmp(&key_b), a.cmp(&b));
                prop_assert_eq!(key_a == key_b, a == b);
            }

            #[test]
            fn message_keys_parse_back((room, seq) in (room_id(), seq())) {
                let key = message(room, seq);
                prop_assert_eq!(parse_message_seq(&key).expect("seq"), seq);
                prop_assert_eq!(parse_room_id(&key[..ROOM_ID_LEN]).expect("room"), room);
            }

            #[test]
            fn room_expiry_keys_order_by_time_then_room((a, b) in two_pairs()) {
                // Same pair shape: (room, expires_at); the key orders by (expires_at, room).
                let (key_a, key_b) = (room_expiry(a.1, a.0), room_expiry(b.1, b.0));
                prop_assert_eq!(key_a.cmp(&key_b), (a.1, a.0).cmp(&(b.1, b.0)));
            }

            #[test]
            fn room_expiry_keys_parse_back((room, at) in (room_id(), seq())) {
                prop_assert_eq!(parse_room_expiry(&room_expiry(at, room)).expect("parse"), (at, room));
            }

            #[test]
            fn parsers_refuse_malformed_keys_without_panicking(
                bytes in proptest::collection::vec(any::<u8>(), 0..64)
            ) {
                prop_assert_eq!(parse_room_expiry(&bytes).is_ok(), bytes.len() == 8 + ROOM_ID_LEN);
                prop_assert_eq!(parse_room_id(&bytes).is_ok(), bytes.len() == ROOM_ID_LEN);
                prop_assert_eq!(parse_seq_value(&bytes).is_ok(), bytes.len() == 8);
                prop_assert_eq!(parse_message_seq(&bytes).is_ok(), bytes.len() == ROOM_ID_LEN + 8);
            }

            #[test]
            fn one_users_sessions_never_fall_under_anothers_prefix(
                a in "[a-z0-9_.-]{3,32}",
                b in "[a-z0-9_.-]{3,32}",
                hash in any::<[u8; TOKEN_HASH_LEN]>(),
            ) {
                let key = user_session(&a, &hash);
                prop_assert!(key.starts_with(&user_sessions_prefix(&a)));
                prop_assert_eq!(key.starts_with(&user_sessions_prefix(&b)), a == b);
            }
        }
    }
}
