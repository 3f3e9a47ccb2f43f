//! `/api/rooms`: list, create, read and delete rooms.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::{ApiResult, ErrorResponse};
use super::security::Auth;
use super::ApiTags;
use crate::app::AppState;
use crate::error::Error;
use crate::ids::RoomId;
use crate::wire::RoomView;

#[derive(Debug, Object)]
pub struct RoomList {
    /// Live rooms, most recently active first.
    pub rooms: Vec<RoomView>,
}

#[derive(Debug, Object)]
pub struct NewRoom {
    /// 1-64 characters after trimming, no control characters; unique among live rooms,
    /// ignoring case.
    pub name: String,
}

#[derive(ApiResponse)]
pub enum CreatedRoom {
    #[oai(status = 201)]
    Created(Json<RoomView>),
}

#[derive(ApiResponse)]
pub enum DeletedRoom {
    /// The room and its messages are gone; its subscribers got `room_deleted`.
    #[oai(status = 204)]
    Deleted,
}

pub struct RoomsApi {
    pub state: AppState,
}

/// Parses a room id from a path; a malformed id names no room, so it is a 404.
pub fn parse_room_id(text: &str) -> Result<RoomId, ErrorResponse> {
    text.parse::<RoomId>()
        .map_err(|_| Error::NotFound("room").into())
}

#[OpenApi(prefix_path = "/rooms", tag = "ApiTags::Rooms")]
impl RoomsApi {
    /// List live rooms (expired rooms never appear, even before they are swept).
    #[oai(path = "/", method = "get")]
    async fn list(&self, _auth: Auth) -> ApiResult<Json<RoomList>> {
        let rooms = self.state.chat.list_rooms()?;
        Ok(Json(RoomList {
            rooms: rooms.iter().map(RoomView::from).collect(),
        }))
    }

    /// Create a room; it expires `rooms.ttl` (7 days by default) after creation.
    #[oai(path = "/", method = "post")]
    async fn create(&self, auth: Auth, body: Json<NewRoom>) -> ApiResult<CreatedRoom> {
        let room = self
            .state
            .chat
            .create_room(&body.0.name, &auth.caller().user)
            .await?;
        Ok(CreatedRoom::Created(Json(RoomView::from(&room))))
    }

    /// Read one live room.
    #[oai(path = "/:id", method = "get")]
    async fn get(&self, _auth: Auth, id: Path<String>) -> ApiResult<Json<RoomView>> {
        let room = self.state.chat.room(parse_room_id(&id.0)?)?;
        Ok(Json(RoomView::from(&room)))
    }

    /// Delete a room and all its messages (its creator or an admin only).
    #[oai(path = "/:id", method = "delete")]
    async fn delete(&self, auth: Auth, id: Path<String>) -> ApiResult<DeletedRoom> {
        self.state
            .chat
            .delete_room(parse_room_id(&id.0)?, &auth.caller().user)
            .await?;
        Ok(DeletedRoom::Deleted)
    }
}
