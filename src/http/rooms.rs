//! `/api/rooms`: list, create, read, change, join, leave and delete rooms.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::{ApiResult, ErrorResponse};
use super::security::Auth;
use super::serialized::SerializedJson;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::chat::{NewRoom as NewRoomSpec, RoomChange};
use crate::error::Error;
use crate::ids::RoomId;
use crate::store::RoomKind;
use crate::wire::RoomView;

#[derive(Debug, Object, serde::Serialize)]
pub struct RoomList {
    /// Most recently active first.
    pub rooms: Vec<RoomView>,
}

#[derive(Debug, Object)]
pub struct NewRoom {
    /// 1-64 characters after trimming, no control characters; public room names are unique
    /// among live public rooms, ignoring case.
    pub name: String,
    /// `public` (default) or `private`.
    pub kind: Option<String>,
    /// One line, at most 256 characters.
    pub topic: Option<String>,
    /// End-to-end encrypted (private rooms only; cannot be changed later): messages are sent
    /// as `ciphertext`, see docs/encrypted-rooms.md.
    pub encrypted: Option<bool>,
}

#[derive(Debug, Object)]
pub struct RoomPatch {
    /// A new name (not for direct rooms).
    pub name: Option<String>,
    /// A new topic; an empty string clears it.
    pub topic: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreatedRoom {
    /// The creator is its owner and only member.
    #[oai(status = 201)]
    Created(Json<RoomView>),
}

#[derive(ApiResponse)]
pub enum DeletedRoom {
    /// The room and its messages are gone; its subscribers and members got `room_deleted`.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub enum LeftRoom {
    /// No longer a member; every connection of yours got `removed`.
    #[oai(status = 204)]
    Left,
}

pub struct RoomsApi {
    pub state: AppState,
}

/// Parses a room id from a path; a malformed id names no room, so it is a 404.
pub fn parse_room_id(text: &str) -> Result<RoomId, ErrorResponse> {
    text.parse::<RoomId>()
        .map_err(|_| Error::NotFound("room").into())
}

fn parse_kind(kind: Option<&str>) -> Result<RoomKind, Error> {
    match kind.map(str::trim) {
        None | Some("public") => Ok(RoomKind::Public),
        Some("private") => Ok(RoomKind::Private),
        Some("direct") => Err(Error::invalid(
            "invalid_kind",
            "direct rooms are opened with POST /api/dms",
        )),
        Some(other) => Err(Error::invalid(
            "invalid_kind",
            format!("kind is \"public\" or \"private\", not {other:?}"),
        )),
    }
}

#[OpenApi(prefix_path = "/rooms", tag = "ApiTags::Rooms")]
impl RoomsApi {
    /// List the rooms you can see: every live public room and the private and direct rooms you
    /// belong to. With `member=true`, only the rooms you are a member of.
    ///
    /// Scope: `read`.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: Auth,
        member: Query<Option<bool>>,
    ) -> ApiResult<SerializedJson<RoomList>> {
        let viewer = &auth.caller().user;
        let rooms = self
            .state
            .chat
            .list_rooms_for(viewer, member.0.unwrap_or(false))?;
        Ok(SerializedJson(RoomList {
            rooms: rooms.iter().map(RoomView::from).collect(),
        }))
    }

    /// Create a public or private room (you become its owner); it expires `rooms.ttl` (7 days
    /// by default) after creation.
    ///
    /// Scope: `write`.
    #[oai(path = "/", method = "post")]
    async fn create(&self, auth: Auth, body: StrictJson<NewRoom>) -> ApiResult<CreatedRoom> {
        let NewRoom {
            name,
            kind,
            topic,
            encrypted,
        } = body.0;
        let spec = NewRoomSpec {
            name,
            kind: parse_kind(kind.as_deref())?,
            topic,
            encrypted: encrypted.unwrap_or(false),
        };
        let room = self
            .state
            .chat
            .create_room(spec, &auth.caller().user)
            .await?;
        Ok(CreatedRoom::Created(Json(RoomView::from(&room))))
    }

    /// Read one live room (a private or direct room only as a member or admin).
    ///
    /// Scope: `read`.
    #[oai(path = "/:id", method = "get")]
    async fn get(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<RoomView>> {
        let room = self
            .state
            .chat
            .room_for(parse_room_id(&id.0)?, &auth.caller().user)?;
        Ok(Json(RoomView::from(&room)))
    }

    /// Rename a room or set its topic (its owner or an admin). Subscribers get `room_updated`.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id", method = "patch")]
    async fn patch(
        &self,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<RoomPatch>,
    ) -> ApiResult<Json<RoomView>> {
        let RoomPatch { name, topic } = body.0;
        let room = self
            .state
            .chat
            .change_room(
                parse_room_id(&id.0)?,
                RoomChange { name, topic },
                &auth.caller().user,
            )
            .await?;
        Ok(Json(RoomView::from(&room)))
    }

    /// Delete a room and all its messages (its owner or an admin).
    ///
    /// Scope: `write`.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(&self, auth: Auth, id: Path<String>) -> ApiResult<DeletedRoom> {
        self.state
            .chat
            .delete_room(parse_room_id(&id.0)?, &auth.caller().user)
            .await?;
        Ok(DeletedRoom::Deleted)
    }

    /// Become a member of a public room (for a room you are in already, this just answers it).
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/join", method = "post")]
    async fn join(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<RoomView>> {
        let room = self
            .state
            .chat
            .join_room(parse_room_id(&id.0)?, &auth.caller().user)
            .await?;
        Ok(Json(RoomView::from(&room)))
    }

    /// End your membership. An owner's role passes to the longest-standing member; a private
    /// or direct room is deleted when its last member leaves.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/leave", method = "post")]
    async fn leave(&self, auth: Auth, id: Path<String>) -> ApiResult<LeftRoom> {
        self.state
            .chat
            .leave_room(parse_room_id(&id.0)?, &auth.caller().user)
            .await?;
        Ok(LeftRoom::Left)
    }
}
