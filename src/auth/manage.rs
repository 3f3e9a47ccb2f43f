//! Account administration (the `confab user ...` commands): create, list, change, lock, delete.
//! Every change that takes access away also ends the user's sessions at once.

use super::{validate_password, Accounts};
use crate::chat::model::User;
use crate::error::{Error, Result};
use crate::store::UserRecord;

/// A user as an administrator sees them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserSummary {
    pub username: String,
    pub is_admin: bool,
    pub locked: bool,
    pub created_at_ms: u64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_owner: Option<String>,
}

impl From<&UserRecord> for UserSummary {
    fn from(record: &UserRecord) -> Self {
        Self {
            username: record.username.clone(),
            is_admin: record.is_admin,
            locked: record.locked,
            created_at_ms: record.created_at_ms,
            is_bot: record.is_bot,
            bot_owner: record.bot_owner.clone(),
        }
    }
}

impl Accounts {
    /// Creates an account whatever `auth.registration_open` says.
    pub async fn create_user(
        &self,
        username: &str,
        password: String,
        is_admin: bool,
    ) -> Result<User> {
        let record = self.insert_user(username, password, |_| is_admin).await?;
        self.store.flush().await?;
        Ok(User::from(&record))
    }

    pub fn list_users(&self) -> Result<Vec<UserSummary>> {
        let mut users: Vec<UserSummary> =
            self.store.users()?.iter().map(UserSummary::from).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    /// Sets a new password and ends every session of the user. Access tokens stay: they are
    /// credentials the user made on purpose, and revoking them is theirs (or a lock's) to do.
    pub async fn set_password(&self, username: &str, password: String) -> Result<()> {
        validate_password(&password)?;
        let mut record = self.existing(username)?;
        if record.is_bot {
            return Err(Error::invalid(
                "bot_account",
                "a bot has no password: it acts only through access tokens",
            ));
        }
        record.password_hash = self.hasher.hash(password).await?;
        self.store.put_user(&record)?;
        self.store.delete_sessions_of(&record.username)?;
        self.store.flush().await?;
        Ok(())
    }

    pub async fn set_admin(&self, username: &str, is_admin: bool) -> Result<()> {
        let mut record = self.existing(username)?;
        record.is_admin = is_admin;
        self.store.put_user(&record)?;
        self.store.flush().await?;
        Ok(())
    }

    /// Locks (ending every session and revoking every access token) or unlocks an account.
    pub async fn set_locked(&self, username: &str, locked: bool) -> Result<()> {
        let mut record = self.existing(username)?;
        record.locked = locked;
        self.store.put_user(&record)?;
        if locked {
            self.store.delete_sessions_of(&record.username)?;
            self.store.delete_tokens_of(&record.username)?;
        }
        self.store.flush().await?;
        Ok(())
    }

    /// Deletes an account, its sessions and its access tokens. Its messages stay, under its
    /// name. Bots it owned stay too, without an owner (admins manage them): a person who
    /// signs up later under the same name must not inherit them.
    pub async fn delete_user(&self, username: &str) -> Result<()> {
        let record = self.existing(username)?;
        self.store.delete_user(&record.username)?;
        for mut bot in self.store.users()? {
            if bot.is_bot && bot.bot_owner.as_deref() == Some(record.username.as_str()) {
                bot.bot_owner = None;
                self.store.put_user(&bot)?;
            }
        }
        self.store.flush().await?;
        Ok(())
    }

    /// Usernames starting with `prefix` (already lowercase), up to `limit`, for member
    /// pickers: names only, locked accounts left out.
    pub fn directory(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        let mut names = Vec::with_capacity(limit);
        // Locked accounts are skipped, so read a little more than asked.
        for user in self
            .store
            .users_with_prefix(prefix, limit.saturating_mul(2))?
        {
            if names.len() == limit {
                break;
            }
            if !user.locked {
                names.push(user.username);
            }
        }
        Ok(names)
    }

    fn existing(&self, username: &str) -> Result<UserRecord> {
        let name = username.trim().to_ascii_lowercase();
        self.store.user(&name)?.ok_or(Error::NotFound("user"))
    }
}
