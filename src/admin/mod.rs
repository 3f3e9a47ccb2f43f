//! Administration: the operations behind `confab user|room|sweep|backup`, run either inside the
//! server (reached through its local control socket) or directly on the data directory when no
//! server holds it. Both paths call the same `execute`, so they cannot drift apart.

pub mod backup;
pub mod client;
pub mod schedule;
pub mod socket;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::auth::{Accounts, Authenticated, BotSummary, IssuedToken, TokenRequest, UserSummary};
use crate::chat::Chat;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::Role;

/// The file name of the control socket inside the data directory.
pub const SOCKET_NAME: &str = "control.sock";

/// One administrative request. Passwords travel only over the local socket (mode 0600).
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    UserAdd {
        username: String,
        password: String,
        admin: bool,
    },
    UserList,
    UserPasswd {
        username: String,
        password: String,
    },
    UserDelete {
        username: String,
    },
    UserAdmin {
        username: String,
        grant: bool,
    },
    UserLock {
        username: String,
        locked: bool,
    },
    RoomList {
        /// Private and direct rooms too (names and counts only).
        #[serde(default)]
        all: bool,
    },
    RoomDelete {
        id: String,
    },
    RoomMembers {
        id: String,
    },
    RoomAddMember {
        id: String,
        username: String,
        #[serde(default)]
        owner: bool,
    },
    RoomRemoveMember {
        id: String,
        username: String,
    },
    Sweep,
    /// Creates a bot account and, when `token` is given, its first access token.
    BotAdd {
        username: String,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        token: Option<TokenAsk>,
    },
    /// Mints another access token for a bot (the secret is shown once).
    BotToken {
        username: String,
        token: TokenAsk,
    },
    BotList,
    /// Empties the search index and rebuilds it from the database in the background.
    SearchReindex,
    /// Where the search index stands (answered with `Reply::Search`).
    SearchStatus,
    /// Answered with `Reply::Streaming`, then the backup file's bytes until the socket closes.
    BackupCreate {
        include_sessions: bool,
    },
}

/// A room as an administrator sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub member_count: u64,
    /// End-to-end encrypted: the server holds only ciphertext of its messages.
    #[serde(default)]
    pub encrypted: bool,
}

/// A room member as an administrator sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberSummary {
    pub username: String,
    pub role: String,
    pub joined_at_ms: u64,
}

/// An access token asked for from the CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenAsk {
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// A token just minted, with its secret: printed once by the CLI, never logged.
#[derive(Serialize, Deserialize)]
pub struct NewToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at_ms: Option<u64>,
    pub secret: String,
}

impl From<IssuedToken> for NewToken {
    fn from(issued: IssuedToken) -> Self {
        Self {
            id: issued.token.id,
            name: issued.token.name,
            scopes: issued
                .token
                .scopes
                .names()
                .into_iter()
                .map(String::from)
                .collect(),
            expires_at_ms: issued.token.expires_at_ms,
            secret: issued.secret,
        }
    }
}

/// Never prints the secret.
impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reply {
    Done {
        message: String,
    },
    /// A bot (just created, or the one a token was minted for) and the token minted, if any.
    Bot {
        bot: BotSummary,
        token: Option<NewToken>,
    },
    Bots {
        bots: Vec<BotSummary>,
    },
    Users {
        users: Vec<UserSummary>,
    },
    Rooms {
        rooms: Vec<RoomSummary>,
    },
    Members {
        members: Vec<MemberSummary>,
    },
    Search {
        search: crate::search::Status,
    },
    Streaming,
    Failed {
        code: String,
        message: String,
    },
}

impl Reply {
    pub fn failed(err: &Error) -> Self {
        Reply::Failed {
            code: err.code().to_string(),
            message: err.public_message(),
        }
    }
}

/// The services an administrative operation works on.
#[derive(Clone)]
pub struct Services {
    pub chat: Arc<Chat>,
    pub accounts: Arc<Accounts>,
    /// The search index, when search is on (and, without a server, for `confab search` only).
    pub search: Option<Arc<crate::search::Search>>,
}

/// Runs one request (other than `BackupCreate`, which streams; see `socket`).
pub async fn execute(services: &Services, request: Request) -> Result<Reply> {
    let Services {
        chat,
        accounts,
        search,
    } = services;
    let done = |message: String| Ok(Reply::Done { message });
    match request {
        Request::UserAdd {
            username,
            password,
            admin,
        } => {
            let user = accounts.create_user(&username, password, admin).await?;
            let role = if user.is_admin { "admin" } else { "user" };
            done(format!("created {role} {}", user.username))
        }
        Request::UserList => Ok(Reply::Users {
            users: accounts.list_users()?,
        }),
        Request::UserPasswd { username, password } => {
            accounts.set_password(&username, password).await?;
            let closed = chat
                .hub()
                .connections()
                .disconnect_user(&canonical(&username));
            done(format!(
                "password changed; sessions ended ({closed} live connections closed)"
            ))
        }
        Request::UserDelete { username } => {
            accounts.delete_user(&username).await?;
            chat.forget_user(&canonical(&username)).await?;
            chat.hub()
                .connections()
                .disconnect_user(&canonical(&username));
            done(format!("deleted {username}"))
        }
        Request::UserAdmin { username, grant } => {
            accounts.set_admin(&username, grant).await?;
            done(format!(
                "{username} is {}an admin",
                if grant { "now " } else { "no longer " }
            ))
        }
        Request::UserLock { username, locked } => {
            accounts.set_locked(&username, locked).await?;
            if locked {
                chat.hub()
                    .connections()
                    .disconnect_user(&canonical(&username));
            }
            done(format!(
                "{username} is {}",
                if locked {
                    "locked; sessions ended"
                } else {
                    "unlocked"
                }
            ))
        }
        Request::RoomList { all } => {
            let rooms = chat
                .list_all_rooms()?
                .into_iter()
                .filter(|room| all || room.is_public())
                .map(|room| RoomSummary {
                    id: room.id.to_string(),
                    name: room.name,
                    created_by: room.created_by,
                    created_at_ms: room.created_at_ms,
                    expires_at_ms: room.expires_at_ms,
                    kind: room.kind.as_str().to_string(),
                    member_count: room.member_count,
                    encrypted: room.encrypted,
                })
                .collect();
            Ok(Reply::Rooms { rooms })
        }
        Request::RoomMembers { id } => {
            let members = chat
                .members_of(parse_room(&id)?)?
                .into_iter()
                .map(|member| MemberSummary {
                    username: member.username,
                    role: member.role.as_str().to_string(),
                    joined_at_ms: member.joined_at_ms,
                })
                .collect();
            Ok(Reply::Members { members })
        }
        Request::RoomAddMember {
            id,
            username,
            owner,
        } => {
            let room = parse_room(&id)?;
            let role = if owner { Role::Owner } else { Role::Member };
            let added = chat.add_member_as_admin(room, &username, role).await?;
            let username = canonical(&username);
            done(if added {
                format!("added {username} to room {room} as {}", role.as_str())
            } else {
                format!(
                    "{username} is a member of room {room}, as {}",
                    role.as_str()
                )
            })
        }
        Request::RoomRemoveMember { id, username } => {
            let room = parse_room(&id)?;
            chat.remove_member_as_admin(room, &username).await?;
            done(format!("removed {} from room {room}", canonical(&username)))
        }
        Request::RoomDelete { id } => {
            let room = parse_room(&id)?;
            if !chat.remove_room(room).await? {
                return Err(Error::NotFound("room"));
            }
            done(format!("deleted room {room}"))
        }
        Request::Sweep => {
            let swept = chat.sweep_expired().await?;
            let sessions = accounts.purge_expired_sessions().await?;
            let tokens = accounts.purge_expired_tokens().await?;
            done(format!(
                "swept {swept} expired room(s), {sessions} expired session(s) and {tokens} expired access token(s)"
            ))
        }
        Request::BotAdd {
            username,
            owner,
            token,
        } => {
            let bot = accounts.create_bot(&username, owner.as_deref()).await?;
            let token = match token {
                Some(ask) => Some(mint_bot_token(accounts, &bot.username, ask).await?),
                None => None,
            };
            Ok(Reply::Bot { bot, token })
        }
        Request::BotToken { username, token } => {
            let token = mint_bot_token(accounts, &username, token).await?;
            let bot = accounts
                .bots()?
                .into_iter()
                .find(|bot| bot.username == canonical(&username))
                .ok_or_else(|| Error::unknown("bot_not_found", "no such bot"))?;
            Ok(Reply::Bot {
                bot,
                token: Some(token),
            })
        }
        Request::BotList => Ok(Reply::Bots {
            bots: accounts.bots()?,
        }),
        Request::SearchReindex => {
            searching(search)?.request_rebuild();
            done("rebuilding the search index from the database".into())
        }
        Request::SearchStatus => Ok(Reply::Search {
            search: searching(search)?.status(),
        }),
        Request::BackupCreate { .. } => Err(Error::invalid(
            "bad_request",
            "backups are streamed by the control socket",
        )),
    }
}

/// Mints a token for a bot as the server's operator.
async fn mint_bot_token(accounts: &Accounts, bot: &str, ask: TokenAsk) -> Result<NewToken> {
    let request = TokenRequest {
        name: ask.name,
        scopes: ask.scopes,
        expires_in: ask.expires_in,
    };
    let issued = accounts
        .issue_bot_token(&Authenticated::operator(), bot, request)
        .await?;
    Ok(NewToken::from(issued))
}

/// The stored form of a username as typed by an admin (`Alice ` → `alice`).
fn canonical(username: &str) -> String {
    crate::chat::canonical_username(username)
}

fn parse_room(id: &str) -> Result<RoomId> {
    id.trim()
        .parse::<RoomId>()
        .map_err(|_| Error::NotFound("room"))
}

fn searching(search: &Option<Arc<crate::search::Search>>) -> Result<&crate::search::Search> {
    search.as_deref().ok_or_else(|| Error::Disabled {
        code: "search_disabled",
        message: "search is off in this server's config (search.enabled = false)".into(),
    })
}
