//! Administration: the operations behind `confab user|room|sweep|backup`, run either inside the
//! server (reached through its local control socket) or directly on the data directory when no
//! server holds it. Both paths call the same `execute`, so they cannot drift apart.

pub mod backup;
pub mod client;
pub mod schedule;
pub mod socket;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::auth::{Accounts, UserSummary};
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
}

/// A room member as an administrator sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberSummary {
    pub username: String,
    pub role: String,
    pub joined_at_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reply {
    Done { message: String },
    Users { users: Vec<UserSummary> },
    Rooms { rooms: Vec<RoomSummary> },
    Members { members: Vec<MemberSummary> },
    Streaming,
    Failed { code: String, message: String },
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
}

/// Runs one request (other than `BackupCreate`, which streams; see `socket`).
pub async fn execute(services: &Services, request: Request) -> Result<Reply> {
    let Services { chat, accounts } = services;
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
            done(format!(
                "swept {swept} expired room(s) and {sessions} expired session(s)"
            ))
        }
        Request::BackupCreate { .. } => Err(Error::invalid(
            "bad_request",
            "backups are streamed by the control socket",
        )),
    }
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
