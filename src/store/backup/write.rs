//! Writing a backup while chat goes on.

use std::collections::HashMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::format::{to_hex, Counts, Header, Line, LineWriter, FORMAT, VERSION};
use super::web_push::{check_subscription, encode_vapid_key};
use super::{BackupError, BackupOptions, BackupStats};
use crate::ids::RoomId;
use crate::store::push::endpoint_hash;
use crate::store::records::decode;
use crate::store::{
    keys, PushSubscriptionRecord, ReadMarkerRecord, RoomRecord, SessionRecord, Store, StoreError,
    TokenHash, UserRecord, WebhookKind, WebhookRecord,
};

/// A `webhooks` key (room id, webhook id).
type WebhookKey = [u8; keys::ROOM_ID_LEN + keys::WEBHOOK_ID_LEN];

impl Store {
    /// Writes a consistent backup of the whole database to `out`, without pausing writers.
    ///
    /// Consistency: the rooms and each room's last sequence number are read first, in one quick
    /// pass; then only those rooms are written, each with its messages up to that mark. Messages
    /// are stored in sequence order under their room's lock and never rewritten, so every room
    /// in the file has exactly the messages `1..=mark` it had at that moment (less any taken
    /// back meanwhile after a failed flush), and no message lacks its room. Messages sent
    /// during the backup, and rooms created during it, are left out. Users and sessions are read
    /// one by one afterwards: each is as of the moment it is read, and a session is written only
    /// after its (still existing) user. A room's webhooks are read with it, each as of that
    /// moment (see `write_webhooks_of` for their cursors and secrets), and so are its
    /// attachments, after its messages, each file's bytes streamed from disk (see
    /// `write_attachments_of` for files that go missing meanwhile).
    ///
    /// The VAPID key is read first and never changes while a server runs (it is made once, at
    /// the first start): every push subscription in the file is bound to the key in the file.
    /// A store without a key has no working subscription either; none are written then.
    ///
    /// The caller must keep rooms from being deleted until this returns (the chat layer holds
    /// its deletion guard): a deletion would take messages out from under the scan. If one
    /// happens anyway it is noticed, and the backup fails with `RoomChanged` rather than
    /// silently missing messages.
    ///
    /// `out` is buffered here; durability of the file (fsync, rename into place, mode 0600 since
    /// it holds password hashes) is the caller's. On error the output lacks its trailer, so
    /// `verify_backup` reports it as truncated. `progress` receives the bytes written so far.
    pub fn write_backup<W: Write>(
        &self,
        out: W,
        options: BackupOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BackupStats, BackupError> {
        let marks = self.room_marks()?;
        let secrets = self.incoming_secrets()?;
        let vapid_key = self.vapid_key()?;
        let mut writer = LineWriter::new(out, progress);
        writer.write(&Header {
            format: FORMAT.to_string(),
            version: VERSION,
            created_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            confab_version: env!("CARGO_PKG_VERSION").to_string(),
            sessions_included: options.include_sessions,
        })?;
        if let Some(key) = &vapid_key {
            writer.write(&Line::VapidKey {
                secret_key: encode_vapid_key(key).map_err(corrupt)?,
            })?;
        }
        let mut counts = Counts::default();
        let users = UserLines {
            sessions: options.include_sessions,
            push_subscriptions: vapid_key.is_some(),
        };
        self.write_users(&mut writer, users, &mut counts)?;
        for (id, record, mark) in marks {
            self.write_room(&mut writer, (id, record, mark), &secrets, &mut counts)?;
        }
        let bytes = writer.finish(counts)?;
        Ok(counts.stats(bytes))
    }

    /// Every room with its current last sequence number: the snapshot point of the backup.
    ///
    /// A room whose expiry is 0 is one `delete_room` began (and a crash interrupted): it is
    /// half gone and already invisible, so it is left out. The flush afterwards makes every
    /// message up to the marks durable, so the file never holds a message that a crash of the
    /// server could still lose.
    fn room_marks(&self) -> Result<Vec<(RoomId, RoomRecord, u64)>, BackupError> {
        let marks = self
            .rooms()?
            .into_iter()
            .filter(|(_, record)| record.expires_at_ms > 0)
            .map(|(id, record)| Ok((id, record, self.last_seq(id)?)))
            .collect::<Result<Vec<_>, BackupError>>()?;
        self.db.flush()?;
        Ok(marks)
    }

    fn write_users<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        include: UserLines,
        counts: &mut Counts,
    ) -> Result<(), BackupError> {
        for entry in self.users.iter() {
            let (key, value) = entry?;
            let record: UserRecord = decode(&value, "user")?;
            if *key != *keys::user(&record.username) {
                return Err(corrupt(format!(
                    "user {:?} is stored under another key",
                    record.username
                )));
            }
            let username = record.username.clone();
            writer.write(&Line::User { record })?;
            counts.users += 1;
            if include.sessions {
                self.write_sessions_of(writer, &username, counts)?;
            }
            self.write_tokens_of(writer, &username, counts)?;
            if include.push_subscriptions {
                self.write_push_subscriptions_of(writer, &username, counts)?;
            }
            // As the browser wrapped it: the file holds no key that opens it.
            if let Some(record) = self.identity_key(&username)? {
                writer.write(&Line::IdentityKey {
                    username: username.to_ascii_lowercase(),
                    record,
                })?;
                counts.identity_keys += 1;
            }
        }
        Ok(())
    }

    /// Push subscriptions of one user, by the SHA-256 of their endpoint (their key after the
    /// user's prefix, so the scan is already in order); like sessions, one whose user is gone
    /// is left out.
    ///
    /// One that the reader would refuse (the server checks every subscription it saves, so
    /// only damage makes one) is left out with a warning rather than failing the backup: no
    /// push could reach it anyway, and the browser subscribes again when it next opens confab.
    fn write_push_subscriptions_of<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        username: &str,
        counts: &mut Counts,
    ) -> Result<(), BackupError> {
        for entry in self
            .push_subscriptions
            .scan_prefix(keys::user_push_prefix(username))
        {
            let (key, value) = entry?;
            let record: PushSubscriptionRecord = decode(&value, "push subscription")?;
            if *key != *keys::push_subscription(username, &endpoint_hash(&record.endpoint)) {
                return Err(corrupt(format!(
                    "a push subscription of {username:?} is stored under another endpoint's key"
                )));
            }
            if let Err(reason) = check_subscription(&record) {
                tracing::warn!(
                    username,
                    reason,
                    "an invalid push subscription is left out of the backup"
                );
                continue;
            }
            writer.write(&Line::PushSubscription {
                username: username.to_ascii_lowercase(),
                record,
            })?;
            counts.push_subscriptions += 1;
        }
        Ok(())
    }

    /// Access tokens of one user, by secret hash; found through the per-user index, so one
    /// whose user is gone is left out, like sessions.
    fn write_tokens_of<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        username: &str,
        counts: &mut Counts,
    ) -> Result<(), BackupError> {
        let mut tokens = self.tokens_of(username)?;
        tokens.sort_by_key(|(hash, _)| *hash);
        for (hash, record) in tokens {
            if keys::user(&record.username) != keys::user(username) {
                return Err(corrupt(format!(
                    "the token index of {username:?} holds a token of {:?}",
                    record.username
                )));
            }
            writer.write(&Line::Token {
                token_sha256: to_hex(&hash),
                record,
            })?;
            counts.tokens += 1;
        }
        Ok(())
    }

    /// Sessions are found through the per-user index, so one whose user is gone is left out.
    fn write_sessions_of<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        username: &str,
        counts: &mut Counts,
    ) -> Result<(), BackupError> {
        let prefix = keys::user_sessions_prefix(username);
        for key in self.user_sessions.scan_prefix(&prefix).keys() {
            let key = key?;
            let hash: [u8; keys::TOKEN_HASH_LEN] = key
                .get(prefix.len()..)
                .and_then(|tail| tail.try_into().ok())
                .ok_or_else(|| corrupt("malformed user_sessions key".into()))?;
            // Gone: a logout between the index read and this one.
            let Some(value) = self.sessions.get(hash)? else {
                continue;
            };
            let record: SessionRecord = decode(&value, "session")?;
            if keys::user(&record.username) != keys::user(username) {
                return Err(corrupt(format!(
                    "the session index of {username:?} holds a session of {:?}",
                    record.username
                )));
            }
            writer.write(&Line::Session {
                token_sha256: to_hex(&hash),
                record,
            })?;
            counts.sessions += 1;
        }
        Ok(())
    }

    fn write_room<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        (id, record, mark): (RoomId, RoomRecord, u64),
        secrets: &HashMap<WebhookKey, TokenHash>,
        counts: &mut Counts,
    ) -> Result<(), BackupError> {
        if record.id.parse::<RoomId>().ok() != Some(id) {
            return Err(corrupt(format!("room {id} holds the id {:?}", record.id)));
        }
        let seen = record.clone();
        writer.write(&Line::Room {
            id: id.to_string(),
            last_seq: mark,
            record,
        })?;
        counts.rooms += 1;
        for (username, member) in self.members(id)? {
            let read_marker = match self.read_marker(id, &username)? {
                Some(marker) => self.read_marker_within(id, marker, mark)?,
                None => None,
            };
            let notifications = self.notification_level(id, &username)?;
            writer.write(&Line::Member {
                room: id.to_string(),
                username: username.clone(),
                record: member,
                read_marker,
                notifications,
            })?;
            counts.members += 1;
            for (key_version, record) in self.room_keys_of(id, &username)? {
                writer.write(&Line::RoomKey {
                    room: id.to_string(),
                    username: username.clone(),
                    key_version,
                    record,
                })?;
                counts.room_keys += 1;
            }
        }
        let mut invites = self.room_invites(id)?;
        invites.sort_by_key(|(hash, _)| *hash);
        for (hash, invite) in invites {
            writer.write(&Line::Invite {
                room: id.to_string(),
                code_sha256: to_hex(&hash),
                record: invite,
            })?;
            counts.invites += 1;
        }
        self.write_webhooks_of(writer, id, mark, secrets, counts)?;
        if mark > 0 {
            // Holes are possible: a message whose flush failed is taken back (`remove_message`).
            let range = keys::message(id, 1)..=keys::message(id, mark);
            for entry in self.messages.range(range) {
                let (key, value) = entry?;
                writer.write(&Line::Message {
                    room: id.to_string(),
                    seq: keys::parse_message_seq(&key)?,
                    record: decode(&value, "message")?,
                })?;
                counts.messages += 1;
            }
        }
        self.write_attachments_of(writer, id, mark, counts)?;
        // A room's expiry never changes except when `delete_room` starts (it first marks the
        // room expired, then deletes messages): an unchanged expiry now means no message this
        // scan was owed went missing. Names, topics and member counts may change meanwhile.
        if self.room(id)?.map(|now| now.expires_at_ms) != Some(seen.expires_at_ms) {
            return Err(BackupError::RoomChanged {
                room: id.to_string(),
            });
        }
        Ok(())
    }

    /// A member's read marker as the file can hold it: the mention count left out (derived
    /// data, recounted on restore), and a marker that moved past the room's mark while the
    /// backup ran (reading messages sent meanwhile, which the file leaves out) brought back
    /// to the last message at or before the mark, or dropped if there is none.
    pub(super) fn read_marker_within(
        &self,
        room: RoomId,
        marker: ReadMarkerRecord,
        mark: u64,
    ) -> Result<Option<ReadMarkerRecord>, BackupError> {
        if marker.message <= mark {
            return Ok(Some(ReadMarkerRecord {
                mentions: None,
                ..marker
            }));
        }
        if mark == 0 {
            return Ok(None);
        }
        let Some(entry) = self
            .messages
            .range(keys::message(room, 1)..=keys::message(room, mark))
            .keys()
            .next_back()
        else {
            return Ok(None);
        };
        let message = keys::parse_message_seq(&entry?)?;
        let ordinal = self.ordinal_of(room, message)?.unwrap_or(message);
        Ok(Some(ReadMarkerRecord {
            message,
            ordinal: ordinal.min(message),
            mentions: None,
        }))
    }

    /// Which secret hash opens each incoming webhook: `incoming_hooks` turned around, read
    /// once before the rooms, since that index is keyed by the hash and a room's webhooks are
    /// not. `insert_webhook` writes the index entry before the record, so every incoming
    /// webhook that exists now is found here.
    fn incoming_secrets(&self) -> Result<HashMap<WebhookKey, TokenHash>, BackupError> {
        let mut secrets = HashMap::new();
        for entry in self.incoming_hooks.iter() {
            let (hash, value) = entry?;
            let hash: TokenHash = hash
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("malformed incoming_hooks key".into()))?;
            let (room, id) = keys::parse_webhook(&value)?;
            // One secret per webhook; should the index ever hold two, the smaller hash wins.
            secrets.entry(keys::webhook(room, id)).or_insert(hash);
        }
        Ok(secrets)
    }

    /// A room's webhooks, by id, each with the hash of its secret if it is incoming.
    ///
    /// An incoming webhook missing from `secrets` was created after they were read (during
    /// the backup), or its index entry is lost and nobody can call it: it is left out, like a
    /// room created during the backup.
    ///
    /// Outgoing deliveries (the `deliveries` log and the `delivery_queue`) are transient and
    /// not backed up. What was already handed to a webhook is told by its `cursor`, which its
    /// record keeps: after a restore, messages up to the cursor are not sent again, and a
    /// delivery still queued or retrying when the backup was taken is dropped. A cursor that
    /// moved past the room's mark while the backup ran (messages sent meanwhile, which the
    /// file leaves out) is brought back to the mark: the restored room numbers its next
    /// messages from there again, and they must be delivered, not skipped.
    fn write_webhooks_of<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        room: RoomId,
        mark: u64,
        secrets: &HashMap<WebhookKey, TokenHash>,
        counts: &mut Counts,
    ) -> Result<(), BackupError> {
        for entry in self.webhooks.scan_prefix(keys::room(room)) {
            let (key, value) = entry?;
            let (_, id) = keys::parse_webhook(&key)?;
            let mut record: WebhookRecord = decode(&value, "webhook")?;
            let ulid = ulid::Ulid::from_bytes(id).to_string();
            if record.id != ulid {
                return Err(corrupt(format!(
                    "webhook {ulid} of room {room} holds the id {:?}",
                    record.id
                )));
            }
            let secret_sha256 = match &mut record.kind {
                WebhookKind::Incoming => match secrets.get(&keys::webhook(room, id)) {
                    Some(hash) => Some(to_hex(hash)),
                    None => continue,
                },
                WebhookKind::Outgoing { cursor, .. } => {
                    *cursor = (*cursor).min(mark);
                    None
                }
            };
            writer.write(&Line::Webhook {
                room: room.to_string(),
                id: ulid,
                secret_sha256,
                record,
            })?;
            counts.webhooks += 1;
        }
        Ok(())
    }
}

/// Which lines follow each user line beside its access tokens.
#[derive(Clone, Copy)]
struct UserLines {
    /// Login sessions, when asked for.
    sessions: bool,
    /// Push subscriptions: whenever the VAPID key they are bound to is in the file.
    push_subscriptions: bool,
}

fn corrupt(reason: String) -> BackupError {
    BackupError::Store(StoreError::Corrupt(reason))
}
