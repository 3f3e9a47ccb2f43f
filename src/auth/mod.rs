//! Accounts and sessions: sign-up, login, logout, and turning a token into a user.

pub mod access_tokens;
mod bots;
mod manage;
mod passwords;
pub mod reaper;
mod throttle;
pub mod tokens;

use std::time::Duration;

pub use access_tokens::{
    Access, AccessToken, Authenticated, IssuedToken, Scope, Scopes, TokenRequest,
};
pub use bots::BotSummary;
pub use manage::UserSummary;
pub use passwords::{hash_now, validate_password, PasswordHasher};
pub use throttle::LoginThrottle;

use crate::chat::model::User;
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::store::{SessionRecord, Store, UserRecord};

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub registration_open: bool,
    pub session_idle_timeout: Duration,
    pub session_lifetime: Duration,
}

impl AuthSettings {
    /// Idle for longer than the idle timeout, or older than the absolute lifetime.
    fn session_expired(&self, session: &SessionRecord, now_ms: u64) -> bool {
        let idle_ms = self.session_idle_timeout.as_millis() as u64;
        let lifetime_ms = self.session_lifetime.as_millis() as u64;
        now_ms >= session.last_seen_ms.saturating_add(idle_ms)
            || now_ms >= session.created_at_ms.saturating_add(lifetime_ms)
    }
}

/// A successful sign-up or login: the user and their new session token (shown once).
pub struct NewSession {
    pub user: User,
    pub token: String,
}

/// How often a session's last-seen time is written: often enough for the idle timeout,
/// rarely enough that a busy client does not write on every request.
const TOUCH_EVERY_MS: u64 = 60_000;

pub struct Accounts {
    store: Store,
    clock: SharedClock,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    settings: AuthSettings,
    inserting: std::sync::Mutex<()>,
    /// Access tokens are counted and inserted under this lock (the per-account limit).
    issuing: std::sync::Mutex<()>,
}

/// Usernames: 3..=32 characters of `[a-z0-9_.-]`, compared case-insensitively.
pub fn validate_username(raw: &str) -> Result<String> {
    let name = raw.trim().to_ascii_lowercase();
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !(3..=32).contains(&name.len()) || !valid_chars {
        return Err(Error::invalid(
            "invalid_username",
            "a username has 3 to 32 characters: letters a-z, digits, '_', '.' or '-'",
        ));
    }
    Ok(name)
}

impl Accounts {
    pub fn new(
        store: Store,
        clock: SharedClock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        settings: AuthSettings,
    ) -> Self {
        Self {
            store,
            clock,
            hasher,
            throttle,
            settings,
            inserting: std::sync::Mutex::new(()),
            issuing: std::sync::Mutex::new(()),
        }
    }

    /// Creates an account and logs it in. The very first account becomes an admin, so a new
    /// server can be managed from the web before anyone touches the CLI.
    pub async fn register(&self, username: &str, password: String) -> Result<NewSession> {
        if !self.settings.registration_open {
            return Err(Error::RegistrationClosed);
        }
        let record = self
            .insert_user(username, password, |store| {
                // A failed read makes nobody an admin by accident.
                !store.has_people().unwrap_or(true)
            })
            .await?;
        tracing::info!(user = %record.username, admin = record.is_admin, "account registered");
        self.open_session(&record).await
    }

    /// Validates and stores a new account; `is_admin` decides its role just before the insert.
    async fn insert_user(
        &self,
        username: &str,
        password: String,
        is_admin: impl FnOnce(&Store) -> bool,
    ) -> Result<UserRecord> {
        let username = validate_username(username)?;
        validate_password(&password)?;
        if self.store.user(&username)?.is_some() {
            return Err(taken(&username));
        }
        let password_hash = self.hasher.hash(password).await?;
        // The role is decided and the account stored under one lock: two sign-ups racing on an
        // empty server must not both see "no users yet" and both become admin.
        let _one_insert_at_a_time = self
            .inserting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = UserRecord {
            is_admin: is_admin(&self.store),
            username,
            password_hash,
            locked: false,
            created_at_ms: self.clock.now_ms(),
            is_bot: false,
            bot_owner: None,
        };
        if !self.store.insert_user_if_absent(&record)? {
            return Err(taken(&record.username));
        }
        Ok(record)
    }

    /// Checks a password. Unknown users and wrong passwords get the same answer after the same
    /// work; repeated failures per client address and per username are throttled.
    pub async fn login(
        &self,
        username: &str,
        password: String,
        client: &str,
    ) -> Result<NewSession> {
        let now = self.clock.now_ms();
        let name = username.trim().to_ascii_lowercase();
        let keys = [format!("ip:{client}"), format!("user:{name}")];
        // The attempt counts as a failure from here on unless it proves otherwise.
        self.throttle
            .admit(&keys, now)
            .map_err(|wait| Error::RateLimited {
                retry_after_secs: wait,
            })?;
        let checked = self.check_password(&name, password).await;
        let withdraw = |keys: &[String]| keys.iter().for_each(|key| self.throttle.withdraw(key));
        let record = match checked {
            Ok(Some(record)) => record,
            Ok(None) => return Err(Error::InvalidCredentials),
            Err(err) => {
                // Busy or failed before any password was checked: not an attempt.
                withdraw(&keys);
                return Err(err);
            }
        };
        withdraw(&keys[..1]);
        self.throttle.clear(&keys[1]);
        if record.locked {
            return Err(Error::AccountLocked);
        }
        self.open_session(&record).await
    }

    /// The account, if `password` is its password. Unknown users cost the same hash, and so
    /// do bots, which have no password: they answer exactly like a wrong one.
    async fn check_password(&self, name: &str, password: String) -> Result<Option<UserRecord>> {
        if password.len() > passwords::PASSWORD_MAX_BYTES {
            return Ok(None);
        }
        let record = match validate_username(name) {
            Ok(name) => self.store.user(&name)?.filter(|user| !user.is_bot),
            Err(_) => None,
        };
        let valid = self
            .hasher
            .verify(password, record.as_ref().map(|r| r.password_hash.clone()))
            .await?;
        Ok(record.filter(|_| valid))
    }

    async fn open_session(&self, record: &UserRecord) -> Result<NewSession> {
        let token = tokens::generate();
        let now = self.clock.now_ms();
        let session = SessionRecord {
            username: record.username.clone(),
            created_at_ms: now,
            last_seen_ms: now,
        };
        self.store.insert_session(&tokens::hash(&token), &session)?;
        self.store.flush().await?;
        Ok(NewSession {
            user: User::from(record),
            token,
        })
    }

    /// Ends the session of `token` at once.
    pub async fn logout(&self, token: &str) -> Result<()> {
        self.store.delete_session(&tokens::hash(token))?;
        self.store.flush().await?;
        Ok(())
    }

    /// Deletes the sessions that have expired (idle or absolute) but were never presented
    /// again; returns how many. `authenticate` refuses them either way: this reclaims space.
    pub async fn purge_expired_sessions(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let settings = self.settings.clone();
        let store = self.store.clone();
        let purged = tokio::task::spawn_blocking(move || {
            store.delete_sessions_where(|session| settings.session_expired(session, now))
        })
        .await
        .map_err(|_| Error::ShuttingDown)??;
        if purged > 0 {
            self.store.flush().await?;
            tracing::info!(sessions = purged, "purged expired sessions");
        }
        Ok(purged)
    }

    /// Who a credential stands for: a personal access token (`cfb_...`) or a session token,
    /// if it is valid and unexpired and its user unlocked.
    pub fn authenticate(&self, token: &str) -> Result<Authenticated> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::Unauthorized);
        }
        if access_tokens::is_access_token(token) {
            return self.authenticate_token(token);
        }
        let hash = tokens::hash(token);
        let Some(mut session) = self.store.session(&hash)? else {
            return Err(Error::Unauthorized);
        };
        let now = self.clock.now_ms();
        let idle_ms = self.settings.session_idle_timeout.as_millis() as u64;
        if self.settings.session_expired(&session, now) {
            self.store.delete_session(&hash)?;
            return Err(Error::Unauthorized);
        }
        let user = match self.store.user(&session.username)? {
            Some(user) if !user.locked => user,
            _ => return Err(Error::Unauthorized),
        };
        // Refresh often enough for short idle timeouts to be exact within a quarter.
        let touch_every = TOUCH_EVERY_MS.min(idle_ms / 4);
        if now >= session.last_seen_ms + touch_every {
            session.last_seen_ms = now;
            self.store.touch_session(&hash, &session)?;
        }
        Ok(Authenticated {
            user: User::from(&user),
            access: Access::Session,
        })
    }
}

fn taken(username: &str) -> Error {
    Error::Conflict {
        code: "username_taken",
        message: format!("the username {username:?} is taken"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(validate_username("Alice_1").expect("valid"), "alice_1");
        assert!(validate_username("ab").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("bad name").is_err());
        assert!(validate_username("émile").is_err());
        assert!(validate_username("a.b-c_d").is_ok());
    }
}
