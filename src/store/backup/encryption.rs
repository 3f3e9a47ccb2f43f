//! What a backup's identity key and room key lines must hold: the shapes the server accepted
//! when browsers uploaded them (the server never opens them, and neither does restore).

use base64ct::{Base64, Encoding};

use crate::store::{IdentityKeyRecord, RoomKeyRecord};

/// An identity key as `PUT /api/keys/me` takes it: a P-256 point, a wrapped private key, and
/// the PBKDF2 parameters to unwrap it.
pub(super) fn check_identity_key(record: &IdentityKeyRecord) -> Result<(), String> {
    check_public_key(&record.public_key, "public_key")?;
    non_empty_base64(&record.wrapped_private_key, "wrapped_private_key")?;
    let kdf = &record.kdf;
    if kdf.name != "PBKDF2" || kdf.hash != "SHA-256" || kdf.iterations < 600_000 {
        return Err(
            "an identity key's kdf is PBKDF2-SHA-256 with at least 600000 iterations".into(),
        );
    }
    non_empty_base64(&kdf.salt, "kdf salt")?;
    iv(&kdf.iv)
}

/// A wrapped room key: base64 blobs, and the wrapper's public key to unwrap it with.
pub(super) fn check_room_key(record: &RoomKeyRecord) -> Result<(), String> {
    non_empty_base64(&record.wrapped_key, "wrapped_key")?;
    iv(&record.iv)?;
    check_public_key(&record.wrapper_public_key, "wrapper_public_key")?;
    if record.wrapped_by.is_empty() {
        return Err("a room key without its wrapper".into());
    }
    Ok(())
}

fn check_public_key(text: &str, what: &str) -> Result<(), String> {
    let bytes = non_empty_base64(text, what)?;
    if bytes.len() != 65 || p256::PublicKey::from_sec1_bytes(&bytes).is_err() {
        return Err(format!("{what} is not an uncompressed P-256 point"));
    }
    Ok(())
}

fn non_empty_base64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    match Base64::decode_vec(text) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(format!("{what} is not non-empty base64")),
    }
}

fn iv(text: &str) -> Result<(), String> {
    match Base64::decode_vec(text) {
        Ok(bytes) if bytes.len() == 12 => Ok(()),
        _ => Err("an iv is 12 bytes of base64".into()),
    }
}
