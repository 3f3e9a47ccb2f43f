//! `/api/keys` and `/api/rooms/{id}/keys`: the keys of end-to-end encrypted rooms
//! (docs/encrypted-rooms.md). Everything here is made and used by browsers; the server keeps
//! it and checks its shape.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::error::ApiResult;
use super::rooms::parse_room_id;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::chat::encryption::{IdentityKey, IdentityKeyUpload, WrappedKeyUpload};
use crate::store::KdfRecord;
use crate::wire::format_time;

/// How the browser derived the key that wraps the private key from the passphrase.
#[derive(Debug, Object, Clone)]
pub struct Kdf {
    /// `PBKDF2`.
    pub name: String,
    /// `SHA-256`.
    pub hash: String,
    /// 600,000 to 10,000,000.
    pub iterations: u32,
    /// 16 to 64 bytes, base64.
    pub salt: String,
    /// The AES-GCM IV of `wrapped_private_key`: 12 bytes, base64.
    pub iv: String,
}

#[derive(Debug, Object)]
pub struct IdentityKeyBody {
    /// The ECDH P-256 public key: the 65-byte uncompressed point (WebCrypto `exportKey("raw")`),
    /// base64.
    pub public_key: String,
    /// The PKCS#8 private key encrypted with AES-256-GCM under the passphrase's key, base64.
    pub wrapped_private_key: String,
    pub kdf: Kdf,
}

/// Your identity key, with what a new device needs to unlock it.
#[derive(Debug, Object)]
pub struct OwnKey {
    pub username: String,
    pub public_key: String,
    /// SHA-256 of the raw public key, lowercase hex.
    pub fingerprint: String,
    /// When this public key was first uploaded.
    pub created_at: String,
    pub wrapped_private_key: String,
    pub kdf: Kdf,
}

/// Someone's public key.
#[derive(Debug, Object)]
pub struct PublicKey {
    pub username: String,
    pub public_key: String,
    /// SHA-256 of the raw public key, lowercase hex (compute your own to compare).
    pub fingerprint: String,
    pub created_at: String,
}

#[derive(Debug, Object)]
pub struct WrappedKey {
    /// A member of the room.
    pub username: String,
    /// The room key encrypted for them (AES-256-GCM under an ECDH + HKDF key), base64.
    pub wrapped_key: String,
    /// 12 bytes, base64.
    pub iv: String,
}

#[derive(Debug, Object)]
pub struct RoomKeysBody {
    /// The room's current key version.
    pub key_version: u32,
    /// 1 to 1,000 wrapped keys, one per member.
    pub keys: Vec<WrappedKey>,
}

#[derive(Debug, Object)]
pub struct StoredRoomKeys {
    pub key_version: u32,
    pub stored: u64,
}

#[derive(Debug, Object)]
pub struct HeldRoomKey {
    pub key_version: u32,
    pub wrapped_key: String,
    pub iv: String,
    /// The member who wrapped it.
    pub wrapped_by: String,
    /// Their public key when they did: unwrap with it, and compare it with the one you
    /// verified.
    pub wrapper_public_key: String,
    pub created_at: String,
}

#[derive(Debug, Object)]
pub struct MyRoomKeys {
    /// The version messages must be sent with now.
    pub key_version: u32,
    /// Your wrapped keys of this room, oldest version first.
    pub keys: Vec<HeldRoomKey>,
    /// Members with an identity key but no key of the current version: whoever holds it
    /// should wrap it for them.
    pub missing: Vec<String>,
    /// Members who have no identity key yet.
    pub without_key: Vec<String>,
}

pub struct KeysApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Encryption")]
impl KeysApi {
    /// Store your identity key for encrypted rooms. The same public key again (a passphrase
    /// change) keeps everything; a different one (a reset) forgets the room keys wrapped for
    /// the old one.
    ///
    /// Errors: 400 `invalid_key` (not a P-256 point, bad base64), `invalid_kdf`.
    /// Scope: `write`.
    #[oai(path = "/keys/me", method = "put")]
    async fn put_own(
        &self,
        auth: Auth,
        body: StrictJson<IdentityKeyBody>,
    ) -> ApiResult<Json<OwnKey>> {
        let IdentityKeyBody {
            public_key,
            wrapped_private_key,
            kdf,
        } = body.0;
        let upload = IdentityKeyUpload {
            public_key,
            wrapped_private_key,
            kdf: KdfRecord {
                name: kdf.name,
                hash: kdf.hash,
                iterations: kdf.iterations,
                salt: kdf.salt,
                iv: kdf.iv,
            },
        };
        let key = self
            .state
            .chat
            .put_identity_key(&auth.caller().user, upload)?;
        Ok(Json(own_key(key)))
    }

    /// Your identity key, with the wrapped private key a new device unlocks with your
    /// passphrase.
    ///
    /// Errors: 404 `no_key`. Scope: `read`.
    #[oai(path = "/keys/me", method = "get")]
    async fn get_own(&self, auth: Auth) -> ApiResult<Json<OwnKey>> {
        let key = self.state.chat.own_identity_key(&auth.caller().user)?;
        Ok(Json(own_key(key)))
    }

    /// Someone's public key and its fingerprint.
    ///
    /// Errors: 404 `no_key`. Scope: `read`.
    #[oai(path = "/keys/:username", method = "get")]
    async fn get_public(&self, _auth: Auth, username: Path<String>) -> ApiResult<Json<PublicKey>> {
        let key = self.state.chat.public_identity_key(&username.0)?;
        Ok(Json(PublicKey {
            username: key.username,
            public_key: key.record.public_key,
            fingerprint: key.fingerprint,
            created_at: format_time(key.record.created_at_ms),
        }))
    }

    /// Share the room key of the current version with members (members only). The first
    /// upload of a version establishes it and includes yourself; after that only a member who
    /// holds it may add keys. Each recipient's connections get `{"type":"room_key"}`.
    ///
    /// Errors: 400 `not_encrypted`, `unknown_key_version`, `no_public_key`, `invalid_keys`,
    /// `must_include_self`; 403 `not_member` (a key for a non-member); 404 `not_found`;
    /// 409 `key_exists`. Scope: `write`.
    #[oai(path = "/rooms/:id/keys", method = "put")]
    async fn put_room_keys(
        &self,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<RoomKeysBody>,
    ) -> ApiResult<Json<StoredRoomKeys>> {
        let room = parse_room_id(&id.0)?;
        let RoomKeysBody { key_version, keys } = body.0;
        let uploads = keys
            .into_iter()
            .map(|key| WrappedKeyUpload {
                username: key.username,
                wrapped_key: key.wrapped_key,
                iv: key.iv,
            })
            .collect();
        let stored =
            self.state
                .chat
                .put_room_keys(&auth.caller().user, room, key_version, uploads)?;
        Ok(Json(StoredRoomKeys {
            key_version,
            stored: stored as u64,
        }))
    }

    /// Your keys of an encrypted room, its current version, and the members who still need
    /// it.
    ///
    /// Errors: 400 `not_encrypted`; 404 `not_found`. Scope: `read`.
    #[oai(path = "/rooms/:id/keys/me", method = "get")]
    async fn my_room_keys(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<MyRoomKeys>> {
        let room = parse_room_id(&id.0)?;
        let keys = self.state.chat.room_keys(&auth.caller().user, room)?;
        Ok(Json(MyRoomKeys {
            key_version: keys.key_version,
            keys: keys
                .keys
                .into_iter()
                .map(|(version, record)| HeldRoomKey {
                    key_version: version,
                    wrapped_key: record.wrapped_key,
                    iv: record.iv,
                    wrapped_by: record.wrapped_by,
                    wrapper_public_key: record.wrapper_public_key,
                    created_at: format_time(record.created_at_ms),
                })
                .collect(),
            missing: keys.missing,
            without_key: keys.without_key,
        }))
    }
}

fn own_key(key: IdentityKey) -> OwnKey {
    let kdf = key.record.kdf;
    OwnKey {
        username: key.username,
        public_key: key.record.public_key,
        fingerprint: key.fingerprint,
        created_at: format_time(key.record.created_at_ms),
        wrapped_private_key: key.record.wrapped_private_key,
        kdf: Kdf {
            name: kdf.name,
            hash: kdf.hash,
            iterations: kdf.iterations,
            salt: kdf.salt,
            iv: kdf.iv,
        },
    }
}
