//! `/api/dms` (direct rooms) and `/api/users` (the user directory for member pickers).

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::error::Error;
use crate::wire::RoomView;

#[derive(Debug, Object)]
pub struct NewDirect {
    /// The other people (1 to 7; you are always included).
    pub users: Vec<String>,
    /// End-to-end encrypted: a room of its own beside the plain direct room of the same
    /// people (see docs/encrypted-rooms.md).
    pub encrypted: Option<bool>,
}

#[derive(ApiResponse)]
pub enum OpenedDirect {
    /// A new direct room; every member got `added`.
    #[oai(status = 201)]
    Created(Json<RoomView>),
    /// The live direct room of exactly these people.
    #[oai(status = 200)]
    Existing(Json<RoomView>),
}

#[derive(Debug, Object)]
pub struct DirectoryEntry {
    pub username: String,
}

#[derive(Debug, Object)]
pub struct Directory {
    /// By username.
    pub users: Vec<DirectoryEntry>,
}

pub struct DirectsApi {
    pub state: AppState,
}

const DIRECTORY_DEFAULT_LIMIT: u32 = 20;
const DIRECTORY_MAX_LIMIT: u32 = 50;
/// More names than a direct room can hold are refused before any lookup.
const MAX_NAMES: usize = 64;

#[OpenApi(tag = "ApiTags::Members")]
impl DirectsApi {
    /// Open a direct room with 1 to 7 other people: a new one (201) or the live one of exactly
    /// the same people (200).
    ///
    /// Scope: `write`.
    #[oai(path = "/dms", method = "post")]
    async fn open(&self, auth: Auth, body: StrictJson<NewDirect>) -> ApiResult<OpenedDirect> {
        if body.0.users.len() > MAX_NAMES {
            return Err(Error::invalid("dm_too_many", "a direct room has at most 8 people").into());
        }
        let (room, created) = self
            .state
            .chat
            .open_direct(
                &auth.caller().user,
                &body.0.users,
                body.0.encrypted.unwrap_or(false),
            )
            .await?;
        let view = Json(RoomView::from(&room));
        Ok(if created {
            OpenedDirect::Created(view)
        } else {
            OpenedDirect::Existing(view)
        })
    }

    /// Find people by the start of their username (for member pickers): names only.
    ///
    /// Scope: `read`.
    #[oai(path = "/users", method = "get")]
    async fn users(
        &self,
        _auth: Auth,
        /// The start of a username; empty or absent lists from the start of the alphabet.
        q: Query<Option<String>>,
        /// 1 to 50, default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<Directory>> {
        let limit = limit.0.unwrap_or(DIRECTORY_DEFAULT_LIMIT);
        if !(1..=DIRECTORY_MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("bad_request", "limit must be between 1 and 50").into());
        }
        let prefix = crate::chat::canonical_username(q.0.as_deref().unwrap_or(""));
        if prefix.len() > 64 {
            return Err(Error::invalid("bad_request", "q has at most 64 characters").into());
        }
        let users = self.state.accounts.directory(&prefix, limit as usize)?;
        Ok(Json(Directory {
            users: users
                .into_iter()
                .map(|username| DirectoryEntry { username })
                .collect(),
        }))
    }
}
