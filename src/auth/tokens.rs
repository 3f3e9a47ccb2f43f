//! Session tokens: 256 random bits handed to the client once, stored only as a SHA-256 hash,
//! so a leaked database does not leak working sessions.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};

use crate::store::TOKEN_HASH_LEN;

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    Base64UrlUnpadded::encode_string(&bytes)
}

pub fn hash(token: &str) -> [u8; TOKEN_HASH_LEN] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_random_and_hash_stably() {
        let a = generate();
        assert_eq!(a.len(), 43, "32 bytes in unpadded base64url");
        assert_ne!(a, generate());
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&generate()));
    }
}
