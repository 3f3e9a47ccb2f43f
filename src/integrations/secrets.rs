//! The secrets of webhooks: 256 random bits in base64url behind a recognisable prefix, so
//! secret scanners can find leaked ones (`cfh_` in an incoming webhook's URL, `cfs_` for an
//! outgoing webhook's signing key).

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::ids::getrandom_fill;
use crate::store::TokenHash;

pub const INCOMING_PREFIX: &str = "cfh_";
pub const SIGNING_PREFIX: &str = "cfs_";
/// Prefix and 43 characters of unpadded base64url (32 bytes).
const SECRET_LEN: usize = 4 + 43;

fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom_fill(&mut bytes);
    format!("{prefix}{}", Base64UrlUnpadded::encode_string(&bytes))
}

/// The secret in an incoming webhook's URL.
pub fn incoming() -> String {
    generate(INCOMING_PREFIX)
}

/// The key an outgoing webhook's calls are signed with.
pub fn signing() -> String {
    generate(SIGNING_PREFIX)
}

/// Whether `text` has the shape of an incoming webhook's secret (checked before any lookup).
pub fn is_incoming(text: &str) -> bool {
    text.len() == SECRET_LEN
        && text.starts_with(INCOMING_PREFIX)
        && text[INCOMING_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the store keeps of an incoming webhook's secret.
pub fn hash(secret: &str) -> TokenHash {
    crate::auth::tokens::hash(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_recognised() {
        let a = incoming();
        assert!(a.starts_with("cfh_") && is_incoming(&a), "{a}");
        assert_ne!(a, incoming());
        assert!(signing().starts_with("cfs_"));
        assert!(!is_incoming(&signing()));
        assert!(!is_incoming("cfh_short"));
        assert!(!is_incoming(&format!("cfh_{}", "é".repeat(21))));
    }
}
