//! Writing a backup while chat goes on.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::format::{Counts, Header, Line, LineWriter, FORMAT, VERSION};
use super::{BackupError, BackupOptions, BackupStats};
use crate::ids::RoomId;
use crate::store::records::decode;
use crate::store::{keys, RoomRecord, SessionRecord, Store, StoreError, UserRecord};

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
    /// after its (still existing) user.
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
        let mut counts = Counts::default();
        self.write_users(&mut writer, options.include_sessions, &mut counts)?;
        for (id, record, mark) in marks {
            self.write_room(&mut writer, id, record, mark, &mut counts)?;
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
        include_sessions: bool,
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
            if include_sessions {
                self.write_sessions_of(writer, &username, counts)?;
            }
            self.write_tokens_of(writer, &username, counts)?;
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
                token_sha256: super::format::to_hex(&hash),
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
                token_sha256: super::format::to_hex(&hash),
                record,
            })?;
            counts.sessions += 1;
        }
        Ok(())
    }

    fn write_room<W: Write>(
        &self,
        writer: &mut LineWriter<'_, W>,
        id: RoomId,
        record: RoomRecord,
        mark: u64,
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
            writer.write(&Line::Member {
                room: id.to_string(),
                username,
                record: member,
            })?;
            counts.members += 1;
        }
        let mut invites = self.room_invites(id)?;
        invites.sort_by_key(|(hash, _)| *hash);
        for (hash, invite) in invites {
            writer.write(&Line::Invite {
                room: id.to_string(),
                code_sha256: super::format::to_hex(&hash),
                record: invite,
            })?;
            counts.invites += 1;
        }
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
}

fn corrupt(reason: String) -> BackupError {
    BackupError::Store(StoreError::Corrupt(reason))
}
