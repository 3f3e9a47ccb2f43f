//! Web Push: the server's VAPID signing key and each user's push subscriptions.

use sha2::{Digest, Sha256};

use super::records::{decode, encode};
use super::{keys, PushSubscriptionRecord, Store, StoreResult};

/// The key of a subscription within its user's: browsers name a subscription by its endpoint.
pub(super) fn endpoint_hash(endpoint: &str) -> [u8; 32] {
    Sha256::digest(endpoint.as_bytes()).into()
}

impl Store {
    /// The VAPID key, creating it from `candidate` if there is none yet. Two first starts racing
    /// (a server and an admin command) agree on one key: the first stored wins.
    pub fn vapid_key_or_insert(&self, candidate: [u8; 32]) -> StoreResult<Vec<u8>> {
        let swapped =
            self.meta
                .compare_and_swap(keys::VAPID_KEY, None::<&[u8]>, Some(&candidate[..]))?;
        Ok(match swapped {
            Ok(()) => candidate.to_vec(),
            Err(existing) => existing.current.map(|v| v.to_vec()).unwrap_or_default(),
        })
    }

    /// The VAPID key, if one was made.
    pub fn vapid_key(&self) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.meta.get(keys::VAPID_KEY)?.map(|v| v.to_vec()))
    }

    /// Replaces the VAPID key (restore).
    pub fn set_vapid_key(&self, key: &[u8]) -> StoreResult<()> {
        self.meta.insert(keys::VAPID_KEY, key)?;
        Ok(())
    }

    /// Forgets the VAPID key: a restore leaves the key of its file, or none when the file has
    /// none (the server makes one at its next start). Never for a store in use: every browser
    /// subscription is bound to the key.
    pub(super) fn remove_vapid_key(&self) -> StoreResult<()> {
        self.meta.remove(keys::VAPID_KEY)?;
        Ok(())
    }

    /// Saves a subscription of `username`; one with the same endpoint is replaced (its
    /// creation time kept). Beyond `max` per user the oldest go. Returns whether it is new.
    pub fn save_push_subscription(
        &self,
        username: &str,
        mut record: PushSubscriptionRecord,
        max: usize,
    ) -> StoreResult<bool> {
        let key = keys::push_subscription(username, &endpoint_hash(&record.endpoint));
        let existing = self
            .push_subscriptions
            .get(&key)?
            .map(|bytes| decode::<PushSubscriptionRecord>(&bytes, "push subscription"))
            .transpose()?;
        if let Some(old) = &existing {
            record.created_at_ms = old.created_at_ms;
        }
        self.push_subscriptions.insert(&key, encode(&record))?;
        let mut all = self.push_subscriptions_of(username)?;
        if all.len() > max {
            all.sort_by_key(|s| s.created_at_ms);
            for old in &all[..all.len() - max] {
                self.remove_push_subscription(username, &old.endpoint)?;
            }
        }
        Ok(existing.is_none())
    }

    pub fn push_subscriptions_of(
        &self,
        username: &str,
    ) -> StoreResult<Vec<PushSubscriptionRecord>> {
        self.push_subscriptions
            .scan_prefix(keys::user_push_prefix(username))
            .values()
            .map(|value| decode(&value?, "push subscription"))
            .collect()
    }

    /// Removes a subscription; false when `username` had none with this endpoint.
    pub fn remove_push_subscription(&self, username: &str, endpoint: &str) -> StoreResult<bool> {
        let key = keys::push_subscription(username, &endpoint_hash(endpoint));
        Ok(self.push_subscriptions.remove(key)?.is_some())
    }

    pub fn delete_push_subscriptions_of(&self, username: &str) -> StoreResult<()> {
        for key in self
            .push_subscriptions
            .scan_prefix(keys::user_push_prefix(username))
            .keys()
        {
            self.push_subscriptions.remove(key?)?;
        }
        Ok(())
    }

    /// Every user with at least one subscription, with them all (startup, backups).
    pub fn all_push_subscriptions(&self) -> StoreResult<Vec<(String, PushSubscriptionRecord)>> {
        self.push_subscriptions
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((
                    keys::parse_push_subscription(&key)?,
                    decode(&value, "push subscription")?,
                ))
            })
            .collect()
    }
}
