//! Personal access tokens: the token by the hash of its secret, each user's tokens by id, and
//! an expiry index for the sweeper.

use super::records::{decode, encode};
use super::{keys, Store, StoreResult, TokenRecord, TOKEN_HASH_LEN};

/// A token's key: the SHA-256 of its secret.
pub type TokenHash = [u8; TOKEN_HASH_LEN];

impl Store {
    /// Stores a new token with its per-user and expiry index entries.
    pub fn insert_token(
        &self,
        hash: &TokenHash,
        id: [u8; keys::TOKEN_ID_LEN],
        token: &TokenRecord,
    ) -> StoreResult<()> {
        self.tokens.insert(hash, encode(token))?;
        self.user_tokens
            .insert(keys::user_token(&token.username, id), &hash[..])?;
        if let Some(at) = token.expires_at_ms {
            self.token_expiry
                .insert(keys::token_expiry(at, hash), &[])?;
        }
        Ok(())
    }

    pub fn token(&self, hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
        self.tokens
            .get(hash)?
            .map(|v| decode(&v, "token"))
            .transpose()
    }

    /// Rewrites a token's record (its last-used time) only if it still exists: a concurrent
    /// revocation must win.
    pub fn touch_token(&self, hash: &TokenHash, token: &TokenRecord) -> StoreResult<()> {
        let current = self.tokens.get(hash)?;
        if let Some(current) = current {
            // Compare-and-swap: a revocation between the read and the write is not undone.
            let _ = self
                .tokens
                .compare_and_swap(hash, Some(current), Some(encode(token)))?;
        }
        Ok(())
    }

    /// Every token of `username` with its hash, oldest first.
    pub fn tokens_of(&self, username: &str) -> StoreResult<Vec<(TokenHash, TokenRecord)>> {
        let mut found = Vec::new();
        for entry in self
            .user_tokens
            .scan_prefix(keys::user_tokens_prefix(username))
        {
            let (_, value) = entry?;
            let hash = keys::parse_token_hash(&value)?;
            // Gone: revoked between the index read and this one.
            if let Some(token) = self.token(&hash)? {
                found.push((hash, token));
            }
        }
        Ok(found)
    }

    /// How many tokens `username` holds (expired ones included until they are swept).
    pub fn token_count(&self, username: &str) -> StoreResult<usize> {
        let mut count = 0;
        for entry in self
            .user_tokens
            .scan_prefix(keys::user_tokens_prefix(username))
        {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    /// The hash of `username`'s token `id`, if there is one.
    pub fn token_hash_of(
        &self,
        username: &str,
        id: [u8; keys::TOKEN_ID_LEN],
    ) -> StoreResult<Option<TokenHash>> {
        self.user_tokens
            .get(keys::user_token(username, id))?
            .map(|v| keys::parse_token_hash(&v))
            .transpose()
    }

    /// Deletes a token and its index entries; returns its record if it existed.
    pub fn delete_token(&self, hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
        let Some(value) = self.tokens.remove(hash)? else {
            return Ok(None);
        };
        let token: TokenRecord = decode(&value, "token")?;
        if let Ok(id) = token.id.parse::<ulid::Ulid>() {
            self.user_tokens
                .remove(keys::user_token(&token.username, id.to_bytes()))?;
        }
        if let Some(at) = token.expires_at_ms {
            self.token_expiry.remove(keys::token_expiry(at, hash))?;
        }
        Ok(Some(token))
    }

    /// Deletes every token of `username` (lock, delete); returns their hashes.
    pub fn delete_tokens_of(&self, username: &str) -> StoreResult<Vec<TokenHash>> {
        let mut hashes = Vec::new();
        for entry in self
            .user_tokens
            .scan_prefix(keys::user_tokens_prefix(username))
        {
            let (key, value) = entry?;
            let hash = keys::parse_token_hash(&value)?;
            self.delete_token(&hash)?;
            // An index entry whose token is gone (or whose id did not parse) goes too.
            self.user_tokens.remove(key)?;
            hashes.push(hash);
        }
        Ok(hashes)
    }

    /// Up to `limit` tokens that expired at or before `now_ms`, soonest first, with their
    /// expiry times.
    pub fn expired_tokens(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<(u64, TokenHash)>> {
        let end = keys::token_expiry(now_ms, &[0xFF; TOKEN_HASH_LEN]);
        let mut found = Vec::new();
        for entry in self.token_expiry.range(..=end.as_slice()).take(limit) {
            let (key, _) = entry?;
            found.push(keys::parse_token_expiry(&key)?);
        }
        Ok(found)
    }

    /// Drops an expiry index entry whose token is already gone (so the sweep moves on).
    pub fn forget_token_expiry(&self, at_ms: u64, hash: &TokenHash) -> StoreResult<()> {
        self.token_expiry.remove(keys::token_expiry(at_ms, hash))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(id: ulid::Ulid, user: &str, expires_at_ms: Option<u64>) -> TokenRecord {
        TokenRecord {
            id: id.to_string(),
            username: user.to_string(),
            name: "ci".into(),
            scopes: vec!["read".into()],
            created_at_ms: 1,
            expires_at_ms,
            last_used_at_ms: None,
        }
    }

    #[test]
    fn tokens_are_found_listed_swept_and_deleted_with_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16).unwrap();
        let (a, b, c) = (
            ulid::Ulid::from_parts(1, 1),
            ulid::Ulid::from_parts(2, 2),
            ulid::Ulid::from_parts(3, 3),
        );
        store
            .insert_token(&[1; 32], a.to_bytes(), &record(a, "ann", Some(100)))
            .unwrap();
        store
            .insert_token(&[2; 32], b.to_bytes(), &record(b, "ann", None))
            .unwrap();
        store
            .insert_token(&[3; 32], c.to_bytes(), &record(c, "anna", Some(50)))
            .unwrap();
        let ids: Vec<String> = store
            .tokens_of("ann")
            .unwrap()
            .into_iter()
            .map(|(_, t)| t.id)
            .collect();
        assert_eq!(
            ids,
            [a.to_string(), b.to_string()],
            "oldest first, ann's only"
        );
        assert_eq!(store.token_count("ann").unwrap(), 2);
        assert_eq!(
            store.token_hash_of("ann", b.to_bytes()).unwrap(),
            Some([2; 32])
        );
        assert_eq!(store.token_hash_of("anna", b.to_bytes()).unwrap(), None);
        assert_eq!(store.expired_tokens(49, 10).unwrap(), []);
        assert_eq!(
            store.expired_tokens(100, 10).unwrap(),
            [(50, [3; 32]), (100, [1; 32])]
        );

        let mut touched = record(a, "ann", Some(100));
        touched.last_used_at_ms = Some(7);
        store.touch_token(&[1; 32], &touched).unwrap();
        assert_eq!(store.token(&[1; 32]).unwrap(), Some(touched));
        assert!(store.delete_token(&[1; 32]).unwrap().is_some());
        store
            .touch_token(&[1; 32], &record(a, "ann", None))
            .unwrap();
        assert_eq!(
            store.token(&[1; 32]).unwrap(),
            None,
            "a touch does not revive"
        );
        assert_eq!(store.expired_tokens(100, 10).unwrap(), [(50, [3; 32])]);
        assert_eq!(store.delete_tokens_of("ann").unwrap(), [[2; 32]]);
        assert_eq!(store.token_count("ann").unwrap(), 0);
        assert_eq!(store.token_count("anna").unwrap(), 1);
    }
}
