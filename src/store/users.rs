//! Users and their login sessions.

use super::records::{decode, encode};
use super::{keys, SessionRecord, Store, StoreError, StoreResult, UserRecord, TOKEN_HASH_LEN};

impl Store {
    /// Inserts `user` unless the (case-insensitive) name is taken; returns false when taken.
    pub fn insert_user_if_absent(&self, user: &UserRecord) -> StoreResult<bool> {
        let swapped = self.users.compare_and_swap(
            keys::user(&user.username),
            None as Option<&[u8]>,
            Some(encode(user)),
        )?;
        Ok(swapped.is_ok())
    }

    pub fn put_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.users
            .insert(keys::user(&user.username), encode(user))?;
        Ok(())
    }

    pub fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.users
            .get(keys::user(username))?
            .map(|v| decode(&v, "user"))
            .transpose()
    }

    pub fn users(&self) -> StoreResult<Vec<UserRecord>> {
        self.users
            .iter()
            .values()
            .map(|v| decode(&v?, "user"))
            .collect()
    }

    /// Up to `limit` users whose name starts with `prefix` (lowercase), in name order.
    pub fn users_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<UserRecord>> {
        self.users
            .scan_prefix(keys::user(prefix))
            .values()
            .take(limit)
            .map(|v| decode(&v?, "user"))
            .collect()
    }

    /// Whether any account is a person (not a bot): the first person to sign up on a server
    /// becomes its admin, even when bots were made before. Stops at the first person found.
    pub fn has_people(&self) -> StoreResult<bool> {
        for value in self.users.iter().values() {
            let user: UserRecord = decode(&value?, "user")?;
            if !user.is_bot {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes the user and every session, access token, push subscription and identity key
    /// they hold.
    pub fn delete_user(&self, username: &str) -> StoreResult<bool> {
        self.delete_sessions_of(username)?;
        self.delete_tokens_of(username)?;
        self.delete_push_subscriptions_of(username)?;
        self.delete_identity_key(username)?;
        Ok(self.users.remove(keys::user(username))?.is_some())
    }

    pub fn insert_session(
        &self,
        token_hash: &[u8; TOKEN_HASH_LEN],
        session: &SessionRecord,
    ) -> StoreResult<()> {
        self.sessions.insert(token_hash, encode(session))?;
        self.user_sessions
            .insert(keys::user_session(&session.username, token_hash), &[])?;
        Ok(())
    }

    pub fn session(&self, token_hash: &[u8; TOKEN_HASH_LEN]) -> StoreResult<Option<SessionRecord>> {
        self.sessions
            .get(token_hash)?
            .map(|v| decode(&v, "session"))
            .transpose()
    }

    pub fn touch_session(
        &self,
        token_hash: &[u8; TOKEN_HASH_LEN],
        session: &SessionRecord,
    ) -> StoreResult<()> {
        // Only refresh a session that still exists: a concurrent logout must win.
        if self.sessions.contains_key(token_hash)? {
            self.sessions.insert(token_hash, encode(session))?;
        }
        Ok(())
    }

    pub fn delete_session(&self, token_hash: &[u8; TOKEN_HASH_LEN]) -> StoreResult<()> {
        if let Some(value) = self.sessions.remove(token_hash)? {
            let session: SessionRecord = decode(&value, "session")?;
            self.user_sessions
                .remove(keys::user_session(&session.username, token_hash))?;
        }
        Ok(())
    }

    /// Deletes every session for which `expired` says so; returns how many.
    pub fn delete_sessions_where(
        &self,
        expired: impl Fn(&SessionRecord) -> bool,
    ) -> StoreResult<usize> {
        let mut count = 0;
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let session: SessionRecord = decode(&value, "session")?;
            let hash: [u8; TOKEN_HASH_LEN] = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("session key length".into()))?;
            if expired(&session) {
                self.delete_session(&hash)?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Ends every session of `username` (password change, lock, delete); returns how many.
    pub fn delete_sessions_of(&self, username: &str) -> StoreResult<usize> {
        let prefix = keys::user_sessions_prefix(username);
        let mut count = 0;
        for entry in self.user_sessions.scan_prefix(&prefix) {
            let (key, _) = entry?;
            if let Some(hash) = key.get(prefix.len()..) {
                self.sessions.remove(hash)?;
            }
            self.user_sessions.remove(key)?;
            count += 1;
        }
        Ok(count)
    }
}
