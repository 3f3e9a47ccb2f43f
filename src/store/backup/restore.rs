//! Restoring a backup into an empty store.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::mem;
use std::path::Path;

use sled::Batch;

use super::attachments::RestoringAttachment;
use super::read::{read_backup, Item};
use super::{BackupError, BackupStats};
use crate::store::records::{decode, encode};
use crate::store::{keys, RoomKind, RoomRecord, Store, StoreError, StoreResult};

/// Batches are applied once they hold about this many bytes, bounding restore's memory.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

impl Store {
    /// Restores a backup into this store, which must be empty (`NotEmpty` otherwise).
    ///
    /// The file is read twice: a full verification first, so that a corrupt or truncated file
    /// writes nothing, then the import, which checks everything again (the file could change in
    /// between); should the import fail, everything it wrote is removed, leaving the store
    /// empty. Derived indexes (session owners, room names, expiry, nonces) are rebuilt, and the
    /// result is flushed before this returns. Rooms keep their ids and expiry times (expired
    /// ones go at the next sweep), messages their sequence numbers.
    ///
    /// The VAPID key (in `meta`, which does not count for emptiness: a server started once on
    /// the empty directory made one) becomes the file's, or none if the file has none (the
    /// server makes one at start); a failed restore puts back the one there was.
    ///
    /// Attachments are written to disk as their bytes arrive (under `incoming/`, moved into
    /// place once all of them have arrived and matched their record, like uploads). With empty
    /// trees no record names any attachment file, so whatever files the data directory still
    /// holds (left by a failed restore that could not remove them) are removed first; a failed
    /// restore removes every file it wrote.
    ///
    /// The caller must have the store to itself (no server using it) for the whole restore.
    /// `progress` counts bytes over both passes, so it ends at twice the file's size.
    pub fn restore_backup(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BackupStats, BackupError> {
        if !self.is_empty()? {
            return Err(BackupError::NotEmpty);
        }
        let previous_key = self.vapid_key()?;
        let mut file = File::open(path)?;
        self.remove_all_attachment_files()?;
        let verified = read_backup(
            BufReader::with_capacity(64 * 1024, &file),
            progress,
            &mut |_| Ok(()),
        )?;
        file.rewind()?;
        let mut importer = Importer::new(self);
        let mut second_pass = |bytes: u64| progress(verified.bytes + bytes);
        let imported = read_backup(
            BufReader::with_capacity(64 * 1024, &file),
            &mut second_pass,
            &mut |item| importer.add(item),
        );
        let result = imported.and_then(|stats| {
            importer.finish()?;
            Ok(stats)
        });
        self.forget_directory();
        if result.is_err() {
            let undone = self.clear_everything().and_then(|()| match &previous_key {
                Some(key) => self.set_vapid_key(key),
                None => self.remove_vapid_key(),
            });
            if let Err(err) = undone {
                tracing::error!(error = %err, "could not undo a failed restore; empty the data directory by hand");
            }
        }
        result
    }

    /// Whether every tree, including any this module does not know of, is empty. The schema
    /// marker (`meta`) is written by every open, so it does not count.
    pub fn is_empty(&self) -> StoreResult<bool> {
        for name in self.db.tree_names() {
            if name == "meta" {
                continue;
            }
            if !self.db.open_tree(name)?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn clear_everything(&self) -> StoreResult<()> {
        for name in self.db.tree_names() {
            if name == "meta" {
                continue;
            }
            self.db.open_tree(name)?.clear()?;
        }
        self.remove_all_attachment_files()?;
        self.forget_directory();
        self.db.flush()?;
        Ok(())
    }

    /// Rebuilds what membership derives from rooms and members: the public room index, the
    /// direct room index and each room's member count (a backup taken while people joined may
    /// hold a count that differs from its member lines; the lines win).
    fn rebuild_membership_indexes(&self) -> StoreResult<()> {
        for entry in self.rooms.iter() {
            let (room_key, value) = entry?;
            let id = keys::parse_room_id(&room_key)?;
            let mut record: RoomRecord = decode(&value, "room")?;
            let members = self.members(id)?;
            match record.kind {
                RoomKind::Public => {
                    self.public_rooms.insert(&room_key, &[])?;
                }
                RoomKind::Direct => {
                    let names: Vec<String> = members.iter().map(|(name, _)| name.clone()).collect();
                    self.direct_rooms.insert(
                        keys::direct_members(&names, record.encrypted),
                        &room_key[..],
                    )?;
                }
                RoomKind::Private => {}
            }
            if record.member_count != members.len() as u64 {
                record.member_count = members.len() as u64;
                self.rooms.insert(&room_key, encode(&record))?;
            }
        }
        Ok(())
    }

    /// Points each room name at the room holding it longest: in a live store a name can only
    /// pass to a new room once its holder has expired, so the latest holder expires last.
    fn rebuild_room_names(&self) -> StoreResult<()> {
        for entry in self.rooms.iter() {
            let (room_key, value) = entry?;
            let record: RoomRecord = decode(&value, "room")?;
            if record.kind != RoomKind::Public {
                continue;
            }
            let name_key = keys::room_name(&record.name);
            let held_longer = match self.room_names.get(&name_key)? {
                Some(holder) => match self.rooms.get(&holder)? {
                    Some(holder) => {
                        decode::<RoomRecord>(&holder, "room")?.expires_at_ms > record.expires_at_ms
                    }
                    None => false,
                },
                None => false,
            };
            if !held_longer {
                self.room_names.insert(name_key, room_key)?;
            }
        }
        Ok(())
    }
}

/// Collects records into one sled batch per tree.
struct Importer<'a> {
    store: &'a Store,
    users: Batch,
    sessions: Batch,
    user_sessions: Batch,
    tokens: Batch,
    user_tokens: Batch,
    token_expiry: Batch,
    rooms: Batch,
    room_expiry: Batch,
    messages: Batch,
    nonces: Batch,
    changes: Batch,
    room_members: Batch,
    read_markers: Batch,
    notification_levels: Batch,
    user_rooms: Batch,
    invites: Batch,
    room_invites: Batch,
    push_subscriptions: Batch,
    identity_keys: Batch,
    room_keys: Batch,
    /// The attachment whose bytes are arriving.
    attachment: Option<RestoringAttachment>,
    /// The file's VAPID key (its line comes right after the header), written last.
    vapid_key: Option<[u8; 32]>,
    /// The file's format version (its header comes first).
    version: u64,
    pending_bytes: usize,
}

impl<'a> Importer<'a> {
    fn new(store: &'a Store) -> Self {
        Self {
            store,
            users: Batch::default(),
            sessions: Batch::default(),
            user_sessions: Batch::default(),
            tokens: Batch::default(),
            user_tokens: Batch::default(),
            token_expiry: Batch::default(),
            rooms: Batch::default(),
            room_expiry: Batch::default(),
            messages: Batch::default(),
            nonces: Batch::default(),
            changes: Batch::default(),
            room_members: Batch::default(),
            read_markers: Batch::default(),
            notification_levels: Batch::default(),
            user_rooms: Batch::default(),
            invites: Batch::default(),
            room_invites: Batch::default(),
            push_subscriptions: Batch::default(),
            identity_keys: Batch::default(),
            room_keys: Batch::default(),
            attachment: None,
            vapid_key: None,
            version: 0,
            pending_bytes: 0,
        }
    }

    fn add(&mut self, item: Item) -> Result<(), BackupError> {
        let value = match item {
            Item::Version(version) => {
                self.version = version;
                return Ok(());
            }
            Item::VapidKey(key) => {
                self.vapid_key = Some(key);
                return Ok(());
            }
            Item::Attachment(room, id, record) => {
                // Its file is written as its bytes arrive, and kept (moved into place, its
                // record and indexes written through the store's own insert, like a webhook's)
                // once the reader has checked all of them.
                self.attachment = Some(RestoringAttachment::start(self.store, room, id, record)?);
                return Ok(());
            }
            Item::AttachmentData(bytes) => {
                self.restoring()?.data(&bytes)?;
                return Ok(());
            }
            Item::AttachmentThumbnail(bytes) => {
                self.restoring()?.thumbnail(&bytes);
                return Ok(());
            }
            Item::AttachmentDone => {
                if let Some(attachment) = self.attachment.take() {
                    attachment.keep(self.store)?;
                }
                return Ok(());
            }
            Item::PushSubscription(username, hash, record) => {
                let value = encode(&record);
                self.push_subscriptions
                    .insert(keys::push_subscription(&username, &hash), value.as_slice());
                value
            }
            Item::IdentityKey(username, record) => {
                let value = encode(&record);
                self.identity_keys
                    .insert(keys::user(&username), value.as_slice());
                value
            }
            Item::RoomKey(room, username, version, record) => {
                let value = encode(&record);
                self.room_keys
                    .insert(keys::room_key(room, &username, version), value.as_slice());
                value
            }
            Item::Member {
                room,
                username,
                record,
                read_marker,
                notifications,
            } => {
                if let Some(marker) = read_marker {
                    self.read_markers
                        .insert(keys::room_member(room, &username), encode(&marker));
                }
                if let Some(level) = notifications {
                    self.notification_levels
                        .insert(keys::room_member(room, &username), encode(&level));
                }
                self.user_rooms
                    .insert(keys::user_room(&username, room), &[] as &[u8]);
                let value = encode(&record);
                self.room_members
                    .insert(keys::room_member(room, &username), value.as_slice());
                value
            }
            Item::Webhook(room, id, secret, record) => {
                // Through the store's own insert, which knows both trees (the record, and the
                // index of incoming ones by secret): webhooks are few, so batching them would
                // gain nothing, and the caller has the store to itself, so writing this before
                // the batch holding its room is applied is invisible. Delivery logs and queues
                // are not in backups: the record's cursor says what was already handed on.
                self.store
                    .insert_webhook(room, id, &record, secret.as_ref())?;
                return Ok(());
            }
            Item::Invite(room, hash, record) => {
                self.room_invites
                    .insert(&keys::room_invite(room, &hash)[..], &[] as &[u8]);
                let value = encode(&record);
                self.invites.insert(&hash[..], value.as_slice());
                value
            }
            Item::User(record) => {
                let value = encode(&record);
                self.users
                    .insert(keys::user(&record.username), value.as_slice());
                value
            }
            Item::Session(hash, record) => {
                let owner = keys::user_session(&record.username, &hash);
                self.user_sessions.insert(owner, &[] as &[u8]);
                let value = encode(&record);
                self.sessions.insert(&hash[..], value.as_slice());
                value
            }
            Item::Token(hash, record) => {
                // The reader checked that the id is a ULID.
                if let Ok(id) = record.id.parse::<ulid::Ulid>() {
                    let owner = keys::user_token(&record.username, id.to_bytes());
                    self.user_tokens.insert(owner, &hash[..]);
                }
                if let Some(at) = record.expires_at_ms {
                    self.token_expiry
                        .insert(&keys::token_expiry(at, &hash)[..], &[] as &[u8]);
                }
                let value = encode(&record);
                self.tokens.insert(&hash[..], value.as_slice());
                value
            }
            Item::Room(id, record) => {
                let expiry = keys::room_expiry(record.expires_at_ms, id);
                self.room_expiry.insert(&expiry[..], &[] as &[u8]);
                let value = encode(&record);
                self.rooms.insert(&keys::room(id)[..], value.as_slice());
                value
            }
            Item::Message(room, seq, record) => {
                // A nonce names one message; a live store never gives two the same one.
                if let Some(nonce) = &record.nonce {
                    let key = keys::nonce(room, &record.author, nonce);
                    self.nonces.insert(key, &keys::seq_value(seq)[..]);
                }
                if let Some(changed) = record.changed_seq {
                    self.changes
                        .insert(&keys::message(room, changed)[..], &keys::seq_value(seq)[..]);
                }
                let value = encode(&record);
                self.messages
                    .insert(&keys::message(room, seq)[..], value.as_slice());
                value
            }
        };
        self.pending_bytes += value.len() + 64;
        if self.pending_bytes >= BATCH_BYTES {
            self.apply()?;
        }
        Ok(())
    }

    /// The attachment the reader is handing bytes of (it always says which first).
    fn restoring(&mut self) -> StoreResult<&mut RestoringAttachment> {
        self.attachment
            .as_mut()
            .ok_or_else(|| StoreError::Corrupt("attachment bytes before their attachment".into()))
    }

    fn apply(&mut self) -> StoreResult<()> {
        let store = self.store;
        store.users.apply_batch(mem::take(&mut self.users))?;
        store.sessions.apply_batch(mem::take(&mut self.sessions))?;
        store
            .user_sessions
            .apply_batch(mem::take(&mut self.user_sessions))?;
        store.tokens.apply_batch(mem::take(&mut self.tokens))?;
        store
            .user_tokens
            .apply_batch(mem::take(&mut self.user_tokens))?;
        store
            .token_expiry
            .apply_batch(mem::take(&mut self.token_expiry))?;
        store.rooms.apply_batch(mem::take(&mut self.rooms))?;
        store
            .room_expiry
            .apply_batch(mem::take(&mut self.room_expiry))?;
        store.messages.apply_batch(mem::take(&mut self.messages))?;
        store.nonces.apply_batch(mem::take(&mut self.nonces))?;
        store.changes.apply_batch(mem::take(&mut self.changes))?;
        store
            .room_members
            .apply_batch(mem::take(&mut self.room_members))?;
        store
            .read_markers
            .apply_batch(mem::take(&mut self.read_markers))?;
        store
            .notification_levels
            .apply_batch(mem::take(&mut self.notification_levels))?;
        store
            .user_rooms
            .apply_batch(mem::take(&mut self.user_rooms))?;
        store.invites.apply_batch(mem::take(&mut self.invites))?;
        store
            .room_invites
            .apply_batch(mem::take(&mut self.room_invites))?;
        store
            .push_subscriptions
            .apply_batch(mem::take(&mut self.push_subscriptions))?;
        store
            .identity_keys
            .apply_batch(mem::take(&mut self.identity_keys))?;
        store
            .room_keys
            .apply_batch(mem::take(&mut self.room_keys))?;
        self.pending_bytes = 0;
        Ok(())
    }

    fn finish(mut self) -> StoreResult<()> {
        self.apply()?;
        self.store.rebuild_room_names()?;
        if self.version < 2 {
            self.store.derive_memberships()?;
        } else {
            self.store.rebuild_membership_indexes()?;
        }
        // Files before version 4 come from servers that did not number messages yet.
        if self.version < 4 {
            self.store.number_messages()?;
        }
        // Derived from the messages and members, never stored in the file.
        self.store.rebuild_mention_index()?;
        // Last, so that a restore that failed before this never changed the key.
        match &self.vapid_key {
            Some(key) => self.store.set_vapid_key(key)?,
            None => self.store.remove_vapid_key()?,
        }
        self.store.db.flush()?;
        Ok(())
    }
}
