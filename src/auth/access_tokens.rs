//! Personal access tokens: long-lived credentials with scopes, for scripts, CI jobs and bots.
//!
//! A token is `cfb_` followed by 256 random bits in base64url (47 characters): the prefix lets
//! secret scanners recognise a leaked one. Like session tokens, only the SHA-256 of the secret
//! is stored and tokens are looked up by that hash. A fast unsalted hash is the right tool for a
//! 256-bit random secret (nothing to brute-force, so argon2 would only cost CPU per request),
//! and the lookup never compares the secret byte by byte with a stored one.
//!
//! Scopes are independent: `read` covers GET requests and receiving over the WebSocket,
//! `write` every other method and the WebSocket's sending frames, `admin` the admin routes and
//! an admin's powers on shared routes. A token without `admin` acts as a regular member even
//! when its account is an admin.

use base64ct::{Base64UrlUnpadded, Encoding};

use super::Accounts;
use crate::chat::model::User;
use crate::error::{Error, Result};
use crate::ids::getrandom_fill;
use crate::store::{TokenHash, TokenRecord, UserRecord};

/// What every access token starts with.
pub const TOKEN_PREFIX: &str = "cfb_";
/// Length of a whole token: the prefix and 43 base64url characters (32 bytes).
const TOKEN_LEN: usize = 4 + 43;
/// Tokens one account may hold at once.
pub const MAX_TOKENS_PER_USER: usize = 50;
/// The longest `expires_in`: one year, in seconds.
pub const MAX_EXPIRES_IN_SECS: u64 = 365 * 24 * 60 * 60;
/// Token names: 1 to this many characters.
pub const MAX_NAME_CHARS: usize = 64;
/// How often a token's last-used time is written: often enough to be useful, rarely enough that
/// a busy script does not write on every request.
const TOUCH_EVERY_MS: u64 = 60_000;

/// One permission a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |bits, scope| bits | scope.bit()))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_subset_of(self, other: Scopes) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in their fixed order: `read`, `write`, `admin`.
    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|scope| self.contains(*scope))
            .map(Scope::as_str)
            .collect()
    }

    /// Parses what a client asked for: at least one scope, each known (repeats are fine).
    pub fn parse(asked: &[String]) -> Result<Self> {
        let mut scopes = Vec::with_capacity(asked.len());
        for name in asked {
            match Scope::parse(name) {
                Some(scope) => scopes.push(scope),
                None => {
                    let shown: String = name.chars().take(32).collect();
                    return Err(Error::invalid(
                        "invalid_scope",
                        format!("unknown scope {shown:?}; the scopes are read, write and admin"),
                    ));
                }
            }
        }
        if scopes.is_empty() {
            return Err(Error::invalid(
                "invalid_scope",
                "a token needs at least one scope: read, write or admin",
            ));
        }
        Ok(Self::of(&scopes))
    }

    /// Scopes as stored; names this version does not know grant nothing.
    fn from_stored(names: &[String]) -> Self {
        Self::of(
            &names
                .iter()
                .filter_map(|name| Scope::parse(name))
                .collect::<Vec<_>>(),
        )
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// A login session (cookie or bearer): everything the account may do.
    Session,
    /// A personal access token: only what its scopes allow.
    Token { id: String, scopes: Scopes },
}

impl Access {
    pub fn allows(&self, scope: Scope) -> bool {
        match self {
            Access::Session => true,
            Access::Token { scopes, .. } => scopes.contains(scope),
        }
    }

    /// `insufficient_scope` unless this credential carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.allows(scope) {
            return Ok(());
        }
        Err(Error::refused(
            "insufficient_scope",
            format!("this access token lacks the `{}` scope", scope.as_str()),
        ))
    }

    /// The scopes of a token; `None` for a session.
    pub fn scopes(&self) -> Option<Scopes> {
        match self {
            Access::Session => None,
            Access::Token { scopes, .. } => Some(*scopes),
        }
    }
}

/// A credential that checked out: whose it is, and what it allows.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The account, with its own flags.
    pub user: User,
    pub access: Access,
}

impl Authenticated {
    /// The user as the domain should treat them: an admin whose token lacks `admin` acts as a
    /// regular member (least privilege on the routes everyone shares).
    pub fn acting_user(&self) -> User {
        let mut user = self.user.clone();
        user.is_admin = user.is_admin && self.access.allows(Scope::Admin);
        user
    }

    /// The server's operator, behind the admin CLI (the control socket is owner-only): an
    /// administrator with every right, who owns no account.
    pub fn operator() -> Self {
        Self {
            user: User {
                username: String::new(),
                is_admin: true,
                created_at_ms: 0,
                is_bot: false,
            },
            access: Access::Session,
        }
    }

    /// For admin routes: `insufficient_scope` for a token without `admin`, then
    /// `admin_required` for an account that is not an admin.
    pub fn require_admin(&self) -> Result<()> {
        self.access.require(Scope::Admin)?;
        if !self.user.is_admin {
            return Err(admin_required("this needs an administrator"));
        }
        Ok(())
    }
}

fn admin_required(message: &str) -> Error {
    Error::refused("admin_required", message)
}

/// A token as its owner sees it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: String,
    pub name: String,
    pub scopes: Scopes,
    pub created_at_ms: u64,
    pub expires_at_ms: Option<u64>,
    pub last_used_at_ms: Option<u64>,
}

impl From<&TokenRecord> for AccessToken {
    fn from(record: &TokenRecord) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            scopes: Scopes::from_stored(&record.scopes),
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
            last_used_at_ms: record.last_used_at_ms,
        }
    }
}

/// A new token and its secret, which is shown this once.
pub struct IssuedToken {
    pub token: AccessToken,
    pub secret: String,
}

/// What a client asks for when it creates a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    pub scopes: Vec<String>,
    /// Seconds until it expires; `None` for a token that never does.
    pub expires_in: Option<u64>,
}

/// Whether `credential` has the shape of an access token (rather than a session token, which
/// has no prefix and 43 characters).
pub fn is_access_token(credential: &str) -> bool {
    credential.len() == TOKEN_LEN && credential.starts_with(TOKEN_PREFIX)
}

fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom_fill(&mut bytes);
    format!("{TOKEN_PREFIX}{}", Base64UrlUnpadded::encode_string(&bytes))
}

fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_token_name",
            format!(
                "a token name has 1 to {MAX_NAME_CHARS} characters, without control characters"
            ),
        ));
    }
    Ok(name.to_string())
}

fn validate_expires_in(expires_in: Option<u64>) -> Result<Option<u64>> {
    match expires_in {
        None => Ok(None),
        Some(secs) if (1..=MAX_EXPIRES_IN_SECS).contains(&secs) => Ok(Some(secs)),
        Some(_) => Err(Error::invalid(
            "invalid_expiry",
            format!(
                "expires_in is a number of seconds from 1 to {MAX_EXPIRES_IN_SECS} (one year), or absent for a token that does not expire"
            ),
        )),
    }
}

impl Accounts {
    /// Creates a token for `holder` (the minter themselves, or a bot they manage) with the
    /// scopes asked for. Only admins get `admin`, and a token can only mint tokens with scopes
    /// it has itself.
    pub async fn issue_token(
        &self,
        minter: &Authenticated,
        holder: &UserRecord,
        request: TokenRequest,
    ) -> Result<IssuedToken> {
        let name = validate_name(&request.name)?;
        let scopes = Scopes::parse(&request.scopes)?;
        let expires_in = validate_expires_in(request.expires_in)?;
        if scopes.contains(Scope::Admin) {
            if !holder.is_admin {
                return Err(admin_required(
                    "only an administrator's account can hold a token with the admin scope",
                ));
            }
            minter.require_admin()?;
        }
        if let Some(own) = minter.access.scopes() {
            if !scopes.is_subset_of(own) {
                return Err(Error::refused(
                    "insufficient_scope",
                    "an access token can only create tokens with scopes it has itself",
                ));
            }
        }
        let now = self.clock.now_ms();
        let mut random = [0u8; 16];
        getrandom_fill(&mut random);
        let id = ulid::Ulid::from_parts(now, u128::from_be_bytes(random));
        let id_text = id.to_string();
        let id = id.to_bytes();
        let record = TokenRecord {
            id: id_text,
            username: holder.username.clone(),
            name,
            scopes: scopes.names().into_iter().map(String::from).collect(),
            created_at_ms: now,
            expires_at_ms: expires_in.map(|secs| now.saturating_add(secs.saturating_mul(1000))),
            last_used_at_ms: None,
        };
        let secret = generate_secret();
        {
            // Count and insert under one lock: concurrent requests must not pass the limit.
            let _one_at_a_time = self
                .issuing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if self.store.token_count(&holder.username)? >= MAX_TOKENS_PER_USER {
                return Err(Error::conflict(
                    "too_many_tokens",
                    format!(
                        "an account holds at most {MAX_TOKENS_PER_USER} access tokens; revoke one first"
                    ),
                ));
            }
            self.store
                .insert_token(&super::tokens::hash(&secret), id, &record)?;
        }
        self.store.flush().await?;
        tracing::info!(user = %record.username, token = %record.id, scopes = ?record.scopes, "access token created");
        Ok(IssuedToken {
            token: AccessToken::from(&record),
            secret,
        })
    }

    /// The live tokens of `username`, oldest first (expired ones are gone or about to be).
    pub fn tokens_of(&self, username: &str) -> Result<Vec<AccessToken>> {
        let now = self.clock.now_ms();
        Ok(self
            .store
            .tokens_of(username)?
            .iter()
            .filter(|(_, record)| !token_expired(record, now))
            .map(|(_, record)| AccessToken::from(record))
            .collect())
    }

    /// Revokes `username`'s token `id` at once; returns its hash, which names the WebSocket
    /// connections opened with it (the caller closes them).
    pub async fn revoke_token(&self, username: &str, id: &str) -> Result<TokenHash> {
        let not_found = || Error::unknown("token_not_found", "no such access token");
        let id = id.parse::<ulid::Ulid>().map_err(|_| not_found())?;
        let hash = self
            .store
            .token_hash_of(username, id.to_bytes())?
            .ok_or_else(not_found)?;
        self.store.delete_token(&hash)?.ok_or_else(not_found)?;
        self.store.flush().await?;
        tracing::info!(user = %username, token = %id, "access token revoked");
        Ok(hash)
    }

    /// The account an access token stands for, if the token exists, has not expired and its
    /// account is unlocked. An expired token is deleted on the spot.
    pub(super) fn authenticate_token(&self, secret: &str) -> Result<Authenticated> {
        let hash = super::tokens::hash(secret);
        let Some(mut record) = self.store.token(&hash)? else {
            return Err(Error::Unauthorized);
        };
        let now = self.clock.now_ms();
        if token_expired(&record, now) {
            self.store.delete_token(&hash)?;
            return Err(Error::Unauthorized);
        }
        let user = match self.store.user(&record.username)? {
            Some(user) if !user.locked => user,
            _ => return Err(Error::Unauthorized),
        };
        let access = Access::Token {
            id: record.id.clone(),
            scopes: Scopes::from_stored(&record.scopes),
        };
        let due = match record.last_used_at_ms {
            Some(last) => now >= last.saturating_add(TOUCH_EVERY_MS),
            None => true,
        };
        if due {
            record.last_used_at_ms = Some(now);
            self.store.touch_token(&hash, &record)?;
        }
        Ok(Authenticated {
            user: User::from(&user),
            access,
        })
    }

    /// Deletes the tokens whose expiry has passed; returns how many. `authenticate` refuses
    /// them either way: this reclaims their space and takes them off the owners' lists.
    pub async fn purge_expired_tokens(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let mut purged = 0;
        loop {
            let expired = self.store.expired_tokens(now, 256)?;
            if expired.is_empty() {
                break;
            }
            for (at, hash) in &expired {
                match self.store.delete_token(hash)? {
                    Some(_) => purged += 1,
                    // An expiry entry without its token (a crash between two deletes).
                    None => self.store.forget_token_expiry(*at, hash)?,
                }
            }
        }
        if purged > 0 {
            self.store.flush().await?;
            tracing::info!(tokens = purged, "purged expired access tokens");
        }
        Ok(purged)
    }
}

fn token_expired(record: &TokenRecord, now_ms: u64) -> bool {
    record.expires_at_ms.is_some_and(|at| now_ms >= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_256_bit_random_and_recognised() {
        let a = generate_secret();
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.starts_with("cfb_"));
        assert!(is_access_token(&a));
        assert_ne!(a, generate_secret());
        assert!(
            !is_access_token(&super::super::tokens::generate()),
            "a session token"
        );
        assert!(!is_access_token("cfb_short"));
    }

    #[test]
    fn scopes_parse_strictly_and_compare_as_sets() {
        let rw = Scopes::parse(&["write".into(), "read".into(), "read".into()]).expect("ok");
        assert_eq!(rw.names(), ["read", "write"]);
        assert!(Scopes::of(&[Scope::Read]).is_subset_of(rw));
        assert!(!Scopes::of(&[Scope::Admin]).is_subset_of(rw));
        let unknown = Scopes::parse(&["read".into(), "root".into()]).expect_err("unknown");
        assert_eq!(unknown.code(), "invalid_scope");
        assert_eq!(
            Scopes::parse(&[]).expect_err("empty").code(),
            "invalid_scope"
        );
        assert_eq!(
            Scopes::from_stored(&["read".into(), "future".into()]),
            Scopes::of(&[Scope::Read])
        );
    }

    #[test]
    fn names_and_expiry_are_bounded() {
        assert_eq!(validate_name("  ci  ").expect("ok"), "ci");
        assert!(validate_name("").is_err());
        assert!(validate_name(&"é".repeat(64)).is_ok());
        assert!(validate_name(&"é".repeat(65)).is_err());
        assert!(validate_name("a\nb").is_err());
        assert_eq!(validate_expires_in(None).expect("ok"), None);
        assert!(validate_expires_in(Some(0)).is_err());
        assert!(validate_expires_in(Some(MAX_EXPIRES_IN_SECS)).is_ok());
        assert!(validate_expires_in(Some(MAX_EXPIRES_IN_SECS + 1)).is_err());
    }

    #[test]
    fn a_token_without_admin_acts_as_a_member() {
        let user = User {
            username: "root".into(),
            is_admin: true,
            created_at_ms: 0,
            is_bot: false,
        };
        let token = |scopes: &[Scope]| Authenticated {
            user: user.clone(),
            access: Access::Token {
                id: "x".into(),
                scopes: Scopes::of(scopes),
            },
        };
        assert!(!token(&[Scope::Read, Scope::Write]).acting_user().is_admin);
        assert!(token(&[Scope::Admin]).acting_user().is_admin);
        let refused = token(&[Scope::Write])
            .require_admin()
            .expect_err("no admin scope");
        assert_eq!(refused.code(), "insufficient_scope");
        let session = Authenticated {
            user: User {
                is_admin: false,
                ..user.clone()
            },
            access: Access::Session,
        };
        assert_eq!(
            session.require_admin().expect_err("not admin").code(),
            "admin_required"
        );
    }
}
