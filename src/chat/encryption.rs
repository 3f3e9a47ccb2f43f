//! End-to-end encrypted rooms (docs/encrypted-rooms.md): the rules on identity keys, wrapped
//! room keys and encrypted messages. The server checks shapes, sizes and who may hold what; it
//! never decrypts anything and holds no key that could.

use std::collections::HashSet;

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

use super::events::EventKind;
use super::membership::canonical_username;
use super::mentions::EVERYONE;
use super::model::{Room, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{EncryptedBody, IdentityKeyRecord, KdfRecord, RoomKeyRecord};

/// PBKDF2 iterations a wrapped private key must have been made with, at least (OWASP's advice
/// for PBKDF2-HMAC-SHA-256), and at most (a browser unlocking must finish).
pub const MIN_KDF_ITERATIONS: u32 = 600_000;
pub const MAX_KDF_ITERATIONS: u32 = 10_000_000;
/// AES-GCM IVs are 12 bytes.
const IV_BYTES: usize = 12;
/// The GCM tag added to every ciphertext.
const GCM_TAG_BYTES: usize = 16;
/// A PKCS#8 P-256 private key is about 138 bytes; this leaves room for other encodings.
const MAX_WRAPPED_PRIVATE_KEY_BYTES: usize = 4096;
/// A wrapped AES-256 key is 48 bytes with its tag; this leaves room for other schemes.
const MAX_WRAPPED_ROOM_KEY_BYTES: usize = 1024;
/// Wrapped keys per `PUT /api/rooms/{id}/keys`.
pub const MAX_KEYS_PER_UPLOAD: usize = 1000;
/// Client-computed mentions per message.
const MAX_MENTIONS: usize = 50;

/// An identity key as uploaded.
#[derive(Debug, Clone)]
pub struct IdentityKeyUpload {
    pub public_key: String,
    pub wrapped_private_key: String,
    pub kdf: KdfRecord,
}

/// A user's identity key as the API shows it.
#[derive(Debug, Clone)]
pub struct IdentityKey {
    pub username: String,
    pub record: IdentityKeyRecord,
    /// SHA-256 of the raw public key, lowercase hex.
    pub fingerprint: String,
}

/// One member's wrapped room key, as uploaded.
#[derive(Debug, Clone)]
pub struct WrappedKeyUpload {
    pub username: String,
    pub wrapped_key: String,
    pub iv: String,
}

/// What a member needs to read an encrypted room.
#[derive(Debug, Clone)]
pub struct RoomKeys {
    /// The version messages must be sent with now.
    pub key_version: u32,
    /// The caller's wrapped keys, oldest version first.
    pub keys: Vec<(u32, RoomKeyRecord)>,
    /// Members with an identity key but no room key of the current version.
    pub missing: Vec<String>,
    /// Members without an identity key.
    pub without_key: Vec<String>,
}

/// The three fields of an encrypted body as a request carries them (all or none), unchecked
/// until `Chat::check_sealed` has seen them under the room's lock.
pub fn sealed_fields(
    ciphertext: Option<String>,
    iv: Option<String>,
    key_version: Option<u32>,
) -> Result<Option<EncryptedBody>> {
    match (ciphertext, iv, key_version) {
        (None, None, None) => Ok(None),
        (Some(ciphertext), Some(iv), Some(key_version)) => Ok(Some(EncryptedBody {
            ciphertext,
            iv,
            key_version,
        })),
        _ => Err(Error::invalid(
            "invalid_ciphertext",
            "an encrypted message has ciphertext, iv and key_version together",
        )),
    }
}

impl Chat {
    /// Stores the caller's identity key. A new public key replaces the old one and forgets the
    /// room keys wrapped for it (docs/encrypted-rooms.md, "reset").
    pub fn put_identity_key(&self, user: &User, upload: IdentityKeyUpload) -> Result<IdentityKey> {
        let public = decode_base64(&upload.public_key, "invalid_key", "public_key")?;
        if p256::PublicKey::from_sec1_bytes(&public).is_err() || public.len() != 65 {
            return Err(Error::invalid(
                "invalid_key",
                "public_key is not an uncompressed P-256 point (65 bytes, base64)",
            ));
        }
        let wrapped = decode_base64(
            &upload.wrapped_private_key,
            "invalid_key",
            "wrapped_private_key",
        )?;
        if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_PRIVATE_KEY_BYTES {
            return Err(Error::invalid(
                "invalid_key",
                format!("wrapped_private_key has 1 to {MAX_WRAPPED_PRIVATE_KEY_BYTES} bytes"),
            ));
        }
        check_kdf(&upload.kdf)?;
        let record = IdentityKeyRecord {
            public_key: Base64::encode_string(&public),
            wrapped_private_key: Base64::encode_string(&wrapped),
            kdf: upload.kdf,
            created_at_ms: self.now_ms(),
        };
        let record = match self.store.identity_key(&user.username)? {
            // The same key wrapped anew (a passphrase change) keeps its age.
            Some(previous) if previous.public_key == record.public_key => IdentityKeyRecord {
                created_at_ms: previous.created_at_ms,
                ..record
            },
            _ => record,
        };
        let replaced = self.store.put_identity_key(&user.username, &record)?;
        if replaced {
            tracing::info!(user = %user.username, "identity key set");
            self.announce_new_identity(&user.username)?;
        }
        Ok(IdentityKey::new(user.username.clone(), record))
    }

    pub fn own_identity_key(&self, user: &User) -> Result<IdentityKey> {
        match self.store.identity_key(&user.username)? {
            Some(record) => Ok(IdentityKey::new(user.username.clone(), record)),
            None => Err(Error::unknown(
                "no_key",
                "you have no identity key yet: PUT /api/keys/me",
            )),
        }
    }

    /// Anyone's public key (to wrap room keys for them and compare safety codes).
    pub fn public_identity_key(&self, username: &str) -> Result<IdentityKey> {
        let username = canonical_username(username);
        match self.store.identity_key(&username)? {
            Some(record) => Ok(IdentityKey::new(username, record)),
            None => Err(Error::unknown(
                "no_key",
                format!("{username} has no identity key"),
            )),
        }
    }

    /// Stores wrapped keys of the room's current version for members who do not hold it yet;
    /// each recipient's connections are told. The first upload of a version establishes it;
    /// then only a member who holds it may add more, and never replace one (so one version
    /// never has two different keys).
    pub fn put_room_keys(
        &self,
        user: &User,
        room: RoomId,
        version: u32,
        uploads: Vec<WrappedKeyUpload>,
    ) -> Result<usize> {
        let live = self.encrypted_room_of_member(user, room)?;
        if uploads.is_empty() || uploads.len() > MAX_KEYS_PER_UPLOAD {
            return Err(Error::invalid(
                "invalid_keys",
                format!("keys holds 1 to {MAX_KEYS_PER_UPLOAD} wrapped keys"),
            ));
        }
        let Some(wrapper) = self.store.identity_key(&user.username)? else {
            return Err(Error::invalid(
                "no_public_key",
                "you have no identity key yet: PUT /api/keys/me",
            ));
        };
        let now = self.now_ms();
        let mut seen = HashSet::new();
        let mut wrapped = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let username = canonical_username(&upload.username);
            if !seen.insert(username.clone()) {
                return Err(Error::invalid(
                    "invalid_keys",
                    format!("two keys for {username}"),
                ));
            }
            let key = decode_base64(&upload.wrapped_key, "invalid_keys", "wrapped_key")?;
            if key.is_empty() || key.len() > MAX_WRAPPED_ROOM_KEY_BYTES {
                return Err(Error::invalid(
                    "invalid_keys",
                    format!("wrapped_key has 1 to {MAX_WRAPPED_ROOM_KEY_BYTES} bytes"),
                ));
            }
            let iv = decode_iv(&upload.iv, "invalid_keys")?;
            wrapped.push((
                username,
                RoomKeyRecord {
                    wrapped_key: Base64::encode_string(&key),
                    iv: Base64::encode_string(&iv),
                    wrapped_by: user.username.clone(),
                    wrapper_public_key: wrapper.public_key.clone(),
                    created_at_ms: now,
                },
            ));
        }
        // Under the room's lock: two members establishing the same version at once are
        // ordered, and the second finds the first's keys.
        let stored = self.hub.with_channel(&self.store, room, |_| {
            let current = self.current_key_version(room, &live)?;
            if version != current {
                return Err(unknown_version(current));
            }
            for (username, _) in &wrapped {
                if self.store.member(room, username)?.is_none() {
                    return Err(Error::refused(
                        "not_member",
                        format!("{username} is not a member of this room"),
                    ));
                }
                if self.store.identity_key(username)?.is_none() {
                    return Err(Error::invalid(
                        "no_public_key",
                        format!("{username} has no identity key"),
                    ));
                }
            }
            // Never a replacement: a member's key of a version is the one they may already
            // have used, and a second one would make those messages unreadable to others.
            for (username, _) in &wrapped {
                if self.store.holds_room_key(room, username, version)? {
                    return Err(Error::conflict(
                        "key_exists",
                        format!("{username} already holds key version {version}"),
                    ));
                }
            }
            if !self.store.holds_room_key(room, &user.username, version)? {
                let established = self
                    .store
                    .members(room)?
                    .iter()
                    .map(|(name, _)| self.store.holds_room_key(room, name, version))
                    .collect::<std::result::Result<Vec<bool>, _>>()?
                    .contains(&true);
                if established {
                    return Err(Error::conflict(
                        "key_exists",
                        format!(
                            "another member already shared key version {version}; fetch it \
                             with GET /api/rooms/{room}/keys/me"
                        ),
                    ));
                }
                if !wrapped.iter().any(|(name, _)| *name == user.username) {
                    return Err(Error::invalid(
                        "must_include_self",
                        "the first keys of a version must include one for yourself",
                    ));
                }
            }
            self.store.put_room_keys(room, version, &wrapped)?;
            Ok(wrapped.len())
        })?;
        for (username, _) in &wrapped {
            self.hub.notify_user(
                username,
                EventKind::RoomKey {
                    room,
                    key_version: version,
                },
            );
        }
        Ok(stored)
    }

    /// The caller's keys of an encrypted room, and who still needs the current one.
    pub fn room_keys(&self, user: &User, room: RoomId) -> Result<RoomKeys> {
        let live = self.encrypted_room_of_member(user, room)?;
        let key_version = self.current_key_version(room, &live)?;
        let keys = self.store.room_keys_of(room, &user.username)?;
        let mut missing = Vec::new();
        let mut without_key = Vec::new();
        for (name, _) in self.store.members(room)? {
            if self.store.identity_key(&name)?.is_none() {
                without_key.push(name);
            } else if !self.store.holds_room_key(room, &name, key_version)? {
                missing.push(name);
            }
        }
        Ok(RoomKeys {
            key_version,
            keys,
            missing,
            without_key,
        })
    }

    /// Tells the members of every encrypted room of `username`, who has a new identity key,
    /// that the room's keys changed: whoever holds the current version can wrap it for them.
    fn announce_new_identity(&self, username: &str) -> Result<()> {
        for room in self.store.rooms_of(username)? {
            self.announce_key_rotation(room)?;
        }
        Ok(())
    }

    /// Tells every member's connections that the room moved to a new key version.
    pub(super) fn announce_key_rotation(&self, room: RoomId) -> Result<()> {
        let Some(record) = self.store.room(room)? else {
            return Ok(());
        };
        if !record.encrypted {
            return Ok(());
        }
        for (name, _) in self.store.members(room)? {
            self.hub.notify_user(
                &name,
                EventKind::RoomKey {
                    room,
                    key_version: record.key_version,
                },
            );
        }
        Ok(())
    }

    /// Checks an encrypted send or edit by `author` into `room` (under the room's lock): the
    /// shape of the blob, its size, and that it uses the current key version, which the author
    /// holds.
    pub(super) fn check_sealed(
        &self,
        room: &Room,
        author: &str,
        sealed: EncryptedBody,
    ) -> Result<EncryptedBody> {
        let ciphertext = decode_base64(&sealed.ciphertext, "invalid_ciphertext", "ciphertext")?;
        if ciphertext.len() <= GCM_TAG_BYTES {
            return Err(Error::invalid(
                "invalid_ciphertext",
                "ciphertext is too short to hold an AES-GCM tag",
            ));
        }
        let max = self
            .settings
            .max_message_chars
            .saturating_mul(4)
            .saturating_add(GCM_TAG_BYTES);
        if ciphertext.len() > max {
            return Err(Error::TooLarge(format!(
                "an encrypted message has at most {max} bytes of ciphertext"
            )));
        }
        let iv = decode_iv(&sealed.iv, "invalid_ciphertext")?;
        let current = self.current_key_version(room.id, room)?;
        if sealed.key_version != current {
            return Err(unknown_version(current));
        }
        if !self
            .store
            .holds_room_key(room.id, author, sealed.key_version)?
        {
            return Err(Error::invalid(
                "unknown_key_version",
                format!(
                    "you hold no key of version {}: fetch GET /api/rooms/{}/keys/me",
                    sealed.key_version, room.id
                ),
            ));
        }
        Ok(EncryptedBody {
            ciphertext: Base64::encode_string(&ciphertext),
            iv: Base64::encode_string(&iv),
            key_version: sealed.key_version,
        })
    }

    /// The mentions a client computed for an encrypted message: `room` and members, each once;
    /// other names are dropped, as the server drops `@names` of non-members in plain rooms.
    pub(super) fn client_mentions(&self, room: RoomId, names: &[String]) -> Result<Vec<String>> {
        if names.len() > MAX_MENTIONS {
            return Err(Error::invalid(
                "invalid_mentions",
                format!("at most {MAX_MENTIONS} mentions"),
            ));
        }
        let mut mentions = Vec::new();
        for name in names {
            let name = canonical_username(name);
            if mentions.contains(&name) {
                continue;
            }
            if name == EVERYONE || self.store.member(room, &name)?.is_some() {
                mentions.push(name);
            }
        }
        Ok(mentions)
    }

    /// The live encrypted room `room`, if `user` is a member (404 otherwise, as for any room
    /// they may not read; 400 `not_encrypted` for a plain room).
    fn encrypted_room_of_member(&self, user: &User, room: RoomId) -> Result<Room> {
        let live = self.room(room)?;
        if self.store.member(room, &user.username)?.is_none() {
            return Err(Error::NotFound("room"));
        }
        if !live.encrypted {
            return Err(not_encrypted());
        }
        Ok(live)
    }

    /// The stored key version: the hub's copy of a room may lag a removal by a moment, and a
    /// message sent with the old key then would be readable by whoever just left.
    fn current_key_version(&self, room: RoomId, cached: &Room) -> Result<u32> {
        Ok(self
            .store
            .room(room)?
            .map_or(cached.key_version, |record| record.key_version))
    }
}

impl IdentityKey {
    fn new(username: String, record: IdentityKeyRecord) -> Self {
        let raw = Base64::decode_vec(&record.public_key).unwrap_or_default();
        let fingerprint = Sha256::digest(&raw)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            username,
            record,
            fingerprint,
        }
    }
}

/// What a plain-text feature says in an encrypted room.
pub fn refused_in_encrypted_room(what: &str) -> Error {
    Error::invalid(
        "encrypted_room",
        format!("{what} not possible in an end-to-end encrypted room"),
    )
}

pub fn not_encrypted() -> Error {
    Error::invalid("not_encrypted", "this room is not end-to-end encrypted")
}

fn unknown_version(current: u32) -> Error {
    Error::invalid(
        "unknown_key_version",
        format!("the room's current key version is {current}"),
    )
}

fn decode_base64(text: &str, code: &'static str, field: &str) -> Result<Vec<u8>> {
    Base64::decode_vec(text.trim())
        .map_err(|_| Error::invalid(code, format!("{field} is not valid base64")))
}

fn decode_iv(text: &str, code: &'static str) -> Result<Vec<u8>> {
    let iv = decode_base64(text, code, "iv")?;
    if iv.len() != IV_BYTES {
        return Err(Error::invalid(
            code,
            format!("iv has {IV_BYTES} bytes, not {}", iv.len()),
        ));
    }
    Ok(iv)
}

fn check_kdf(kdf: &KdfRecord) -> Result<()> {
    let bad = |message: String| Err(Error::invalid("invalid_kdf", message));
    if kdf.name != "PBKDF2" || kdf.hash != "SHA-256" {
        return bad(format!(
            "kdf is PBKDF2 with SHA-256, not {} with {}",
            kdf.name, kdf.hash
        ));
    }
    if !(MIN_KDF_ITERATIONS..=MAX_KDF_ITERATIONS).contains(&kdf.iterations) {
        return bad(format!(
            "kdf iterations are {MIN_KDF_ITERATIONS} to {MAX_KDF_ITERATIONS}"
        ));
    }
    let salt = decode_base64(&kdf.salt, "invalid_kdf", "salt")?;
    if !(16..=64).contains(&salt.len()) {
        return bad("the kdf salt has 16 to 64 bytes".into());
    }
    decode_iv(&kdf.iv, "invalid_kdf")?;
    Ok(())
}
