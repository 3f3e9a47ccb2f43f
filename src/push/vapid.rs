//! The server's VAPID identity (RFC 8292): one P-256 key pair, made at first start and kept in
//! the database (and in backups, so browsers' subscriptions, which are bound to the public key,
//! survive a restore), and the signed JWT each push request carries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::OsRng;
use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use url::Url;

use crate::error::{Error, Result};
use crate::store::{Store, StoreError};

/// How long a push request's JWT is valid (RFC 8292 allows at most 24 h).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

pub struct Vapid {
    key: SigningKey,
    /// The public key as browsers take it (`applicationServerKey`): the 65-byte uncompressed
    /// point, base64url without padding.
    public_key: String,
    /// The contact push services are given (`sub`).
    subject: String,
}

impl Vapid {
    /// The stored key, or a new one stored first.
    pub fn load_or_create(store: &Store, subject: String) -> Result<Self> {
        let stored = match store.vapid_key()? {
            Some(stored) => stored,
            None => {
                let candidate = SigningKey::random(&mut OsRng);
                store.vapid_key_or_insert(candidate.to_bytes().into())?
            }
        };
        let key = SigningKey::from_slice(&stored).map_err(|_| {
            Error::Storage(StoreError::Corrupt(
                "the stored VAPID key is not a P-256 secret key".into(),
            ))
        })?;
        let point = key.verifying_key().to_encoded_point(false);
        Ok(Self {
            public_key: Base64UrlUnpadded::encode_string(point.as_bytes()),
            key,
            subject,
        })
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`,
    /// the JWT's audience being the endpoint's origin.
    pub fn authorization(&self, endpoint: &Url) -> String {
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(TOKEN_LIFETIME)
            .as_secs();
        let header = Base64UrlUnpadded::encode_string(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": expires,
            "sub": self.subject,
        });
        let claims = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signed.as_bytes());
        let signature = Base64UrlUnpadded::encode_string(&signature.to_bytes());
        format!("vapid t={signed}.{signature}, k={}", self.public_key)
    }
}
