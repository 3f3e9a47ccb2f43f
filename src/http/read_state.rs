//! `/api/rooms/{id}/read` and `/api/rooms/{id}/notifications`: a member's read marker and
//! notification level in a room.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::error::ApiResult;
use super::rooms::parse_room_id;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::error::Error;
use crate::ids::MessageId;

#[derive(Debug, Object)]
pub struct ReadMarkerBody {
    /// The id of the last message read (16 hex digits), a message of this room.
    pub message: String,
}

#[derive(Debug, Object)]
pub struct ReadMarker {
    /// The room's id.
    pub room: String,
    /// The marker now: the message asked for, or a later one already marked (markers only move
    /// forward).
    pub message: String,
}

#[derive(Debug, Object)]
pub struct NotificationsBody {
    /// `all` (every message), `mentions` (only `@you` and `@room`) or `none`.
    pub level: String,
}

#[derive(Debug, Object)]
pub struct Notifications {
    pub room: String,
    pub level: String,
}

pub struct ReadStateApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/rooms", tag = "ApiTags::Rooms")]
impl ReadStateApi {
    /// Mark a room read up to a message. Markers only move forward: an older message is
    /// accepted and changes nothing. Your other connections get `{"type":"read"}`.
    ///
    /// Errors: 400 `invalid_marker` (not a message of this room); 404 `not_found`, `not_member`.
    /// Scope: `write`.
    #[oai(path = "/:id/read", method = "put")]
    async fn mark_read(
        &self,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<ReadMarkerBody>,
    ) -> ApiResult<Json<ReadMarker>> {
        let room = parse_room_id(&id.0)?;
        let message: MessageId = body
            .0
            .message
            .parse()
            .map_err(|e| Error::invalid("invalid_marker", format!("message: {e}")))?;
        let marker = self
            .state
            .chat
            .mark_read(room, &auth.caller().user, message, None)?;
        Ok(Json(ReadMarker {
            room: room.to_string(),
            message: marker.to_string(),
        }))
    }

    /// Choose when you are notified about a room: `all`, `mentions` or `none`. Shown on the
    /// Room as `notifications`.
    ///
    /// Errors: 400 `invalid_level`; 404 `not_found`, `not_member`. Scope: `write`.
    #[oai(path = "/:id/notifications", method = "put")]
    async fn notifications(
        &self,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<NotificationsBody>,
    ) -> ApiResult<Json<Notifications>> {
        let room = parse_room_id(&id.0)?;
        let level = self
            .state
            .chat
            .set_notifications(room, &auth.caller().user, &body.0.level)
            .await?;
        Ok(Json(Notifications {
            room: room.to_string(),
            level: level.as_str().to_string(),
        }))
    }
}
