//! The Web Push parts of a backup: the VAPID key's text form, and what a push subscription
//! must be for the reader to take it (what the server itself accepts when a browser subscribes,
//! so a file can never restore a subscription no push could be sent to).

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::store::PushSubscriptionRecord;

/// A VAPID key is a P-256 secret scalar: exactly 32 bytes.
pub(super) const VAPID_KEY_LEN: usize = 32;
/// Longest endpoint URL a subscription may have (what the server accepts when subscribing).
pub(super) const MAX_ENDPOINT_BYTES: usize = 2048;
/// A browser's public key: an uncompressed P-256 point.
const P256DH_LEN: usize = 65;
/// A subscription's authentication secret.
const AUTH_LEN: usize = 16;

/// The VAPID key as the file holds it, base64url without padding; an error when the stored key
/// is not one (the server could not sign with it either, and the file would not restore).
pub(super) fn encode_vapid_key(key: &[u8]) -> Result<String, String> {
    check_vapid_key(key)?;
    Ok(Base64UrlUnpadded::encode_string(key))
}

/// The 32 bytes of a VAPID key line, checked to be a usable P-256 secret key.
pub(super) fn decode_vapid_key(text: &str) -> Result<[u8; VAPID_KEY_LEN], String> {
    let bytes = Base64UrlUnpadded::decode_vec(text)
        .map_err(|_| "the VAPID key is not base64url without padding".to_string())?;
    check_vapid_key(&bytes)?;
    let mut key = [0u8; VAPID_KEY_LEN];
    key.copy_from_slice(&bytes);
    Ok(key)
}

fn check_vapid_key(key: &[u8]) -> Result<(), String> {
    // `SecretKey::from_slice` alone would also take 24 to 31 bytes (left-padding them).
    if key.len() != VAPID_KEY_LEN {
        return Err(format!(
            "the VAPID key is {} bytes, not {VAPID_KEY_LEN}",
            key.len()
        ));
    }
    p256::SecretKey::from_slice(key).map_err(|_| {
        "the VAPID key is not a P-256 secret key (it is zero or not below the curve order)"
            .to_string()
    })?;
    Ok(())
}

/// Whether a subscription could be pushed to: an endpoint, the browser's P-256 public key and
/// its 16-byte secret, both base64url without padding as the store keeps them.
pub(super) fn check_subscription(record: &PushSubscriptionRecord) -> Result<(), String> {
    if record.endpoint.is_empty() || record.endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(format!(
            "a push subscription whose endpoint is empty or longer than {MAX_ENDPOINT_BYTES} bytes"
        ));
    }
    let p256dh = Base64UrlUnpadded::decode_vec(&record.p256dh).unwrap_or_default();
    if p256dh.len() != P256DH_LEN || p256::PublicKey::from_sec1_bytes(&p256dh).is_err() {
        return Err(format!(
            "a push subscription whose p256dh is not a base64url P-256 public key ({P256DH_LEN} bytes, uncompressed, on the curve)"
        ));
    }
    let auth = Base64UrlUnpadded::decode_vec(&record.auth).unwrap_or_default();
    if auth.len() != AUTH_LEN {
        return Err(format!(
            "a push subscription whose auth is not a base64url secret of {AUTH_LEN} bytes"
        ));
    }
    Ok(())
}
