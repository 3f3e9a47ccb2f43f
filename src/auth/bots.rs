//! Bot accounts: users that cannot log in with a password and act only through access tokens.
//! Admins create them (`confab bot add`, `POST /api/bots`); the bot's owner, a person, or any
//! admin mints and revokes its tokens. Otherwise a bot is a user like any other: it joins
//! public rooms on its own, and private rooms only when a member adds it.

use serde::{Deserialize, Serialize};

use super::access_tokens::{AccessToken, Authenticated, IssuedToken, TokenRequest};
use super::{taken, validate_username, Accounts};
use crate::chat::model::User;
use crate::error::{Error, Result};
use crate::store::{TokenHash, UserRecord};

/// A bot as listed: its name, owner and age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotSummary {
    pub username: String,
    pub owner: Option<String>,
    pub created_at_ms: u64,
}

impl From<&UserRecord> for BotSummary {
    fn from(record: &UserRecord) -> Self {
        Self {
            username: record.username.clone(),
            owner: record.bot_owner.clone(),
            created_at_ms: record.created_at_ms,
        }
    }
}

impl Accounts {
    /// Creates a bot account, owned by the person `owner` when given. Its password hash is
    /// empty: nothing can ever match it, and `login` does not even try (bots answer like a
    /// wrong password).
    pub async fn create_bot(&self, username: &str, owner: Option<&str>) -> Result<BotSummary> {
        let username = validate_username(username)?;
        let owner = match owner.map(crate::chat::canonical_username) {
            None => None,
            Some(owner) => match self.store.user(&owner)? {
                Some(person) if !person.is_bot => Some(person.username),
                _ => {
                    return Err(Error::unknown(
                        "user_not_found",
                        format!("no person named {owner:?} to own the bot"),
                    ))
                }
            },
        };
        let record = UserRecord {
            username,
            password_hash: String::new(),
            is_admin: false,
            locked: false,
            created_at_ms: self.clock.now_ms(),
            is_bot: true,
            bot_owner: owner,
        };
        if !self.store.insert_user_if_absent(&record)? {
            return Err(taken(&record.username));
        }
        self.store.flush().await?;
        tracing::info!(bot = %record.username, owner = ?record.bot_owner, "bot account created");
        Ok(BotSummary::from(&record))
    }

    /// Every bot, by name.
    pub fn bots(&self) -> Result<Vec<BotSummary>> {
        let mut bots: Vec<BotSummary> = self
            .store
            .users()?
            .iter()
            .filter(|user| user.is_bot)
            .map(BotSummary::from)
            .collect();
        bots.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(bots)
    }

    /// The bot `username`, if `actor` may manage it: its owner or an admin (`acting_user`, so an
    /// admin's token needs the `admin` scope for bots they do not own).
    fn managed_bot(&self, actor: &User, username: &str) -> Result<UserRecord> {
        let name = crate::chat::canonical_username(username);
        let bot = match self.store.user(&name)? {
            Some(bot) if bot.is_bot => bot,
            _ => {
                return Err(Error::unknown(
                    "bot_not_found",
                    format!("no bot named {name:?}"),
                ))
            }
        };
        if actor.is_admin || bot.bot_owner.as_deref() == Some(actor.username.as_str()) {
            return Ok(bot);
        }
        Err(Error::Forbidden(
            "only the bot's owner or an admin manages its tokens".into(),
        ))
    }

    /// Mints a token for the caller's own account.
    pub async fn issue_own_token(
        &self,
        minter: &Authenticated,
        request: TokenRequest,
    ) -> Result<IssuedToken> {
        let holder = self
            .store
            .user(&minter.user.username)?
            .ok_or(Error::Unauthorized)?;
        self.issue_token(minter, &holder, request).await
    }

    /// Mints a token for a bot the caller manages.
    pub async fn issue_bot_token(
        &self,
        minter: &Authenticated,
        bot: &str,
        request: TokenRequest,
    ) -> Result<IssuedToken> {
        let holder = self.managed_bot(&minter.acting_user(), bot)?;
        self.issue_token(minter, &holder, request).await
    }

    /// The live tokens of a bot the caller manages.
    pub fn bot_tokens(&self, actor: &User, bot: &str) -> Result<Vec<AccessToken>> {
        let bot = self.managed_bot(actor, bot)?;
        self.tokens_of(&bot.username)
    }

    /// Revokes a token of a bot the caller manages; returns its hash (to close its sockets).
    pub async fn revoke_bot_token(&self, actor: &User, bot: &str, id: &str) -> Result<TokenHash> {
        let bot = self.managed_bot(actor, bot)?;
        self.revoke_token(&bot.username, id).await
    }

    /// Whether `username` is a bot (false for unknown names).
    pub fn is_bot(&self, username: &str) -> Result<bool> {
        Ok(self.store.user(username)?.is_some_and(|user| user.is_bot))
    }
}
