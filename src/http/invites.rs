//! Invite links: `/api/rooms/{id}/invites` to make, list and revoke them, and
//! `/api/invites/{code}/accept` to use one.

use std::time::Duration;

use poem::http::header;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::rooms::parse_room_id;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::wire::{InviteView, RoomView};

#[derive(Debug, Object, Default)]
pub struct NewInvite {
    /// How many people may use it: 1 to 10000; absent for no limit.
    pub max_uses: Option<u32>,
    /// Seconds until it expires: 60 to 2592000 (30 days); default 604800 (7 days).
    pub expires_in: Option<u64>,
}

#[derive(Debug, Object)]
pub struct InviteList {
    /// Oldest first, without codes (they are stored hashed).
    pub invites: Vec<InviteView>,
}

#[derive(ApiResponse)]
pub enum CreatedInvite {
    /// The only answer that shows the code: pass `url` on.
    #[oai(status = 201)]
    Created(Json<InviteView>),
}

#[derive(ApiResponse)]
pub enum DeletedInvite {
    #[oai(status = 204)]
    Deleted,
}

pub struct InvitesApi {
    pub state: AppState,
}

/// Where people reach us, for links the server hands out (invites, incoming webhooks):
/// `public_url` when set, else the page's `Origin` when a browser sent one, else the `Host`
/// the caller asked for.
pub(super) fn origin_of(req: &Request, state: &AppState) -> String {
    if let Some(public) = &state.config.public_url {
        return public.trim_end_matches('/').to_string();
    }
    let header_text = |name| {
        req.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|text| !text.is_empty() && !text.contains(char::is_whitespace))
    };
    if let Some(origin) = header_text(header::ORIGIN).filter(|o| *o != "null") {
        return origin.trim_end_matches('/').to_string();
    }
    let scheme = if state.config.auth.secure_cookies {
        "https"
    } else {
        "http"
    };
    match header_text(header::HOST) {
        Some(host) => format!("{scheme}://{host}"),
        None => format!("{scheme}://{}", state.config.listen),
    }
}

#[OpenApi(tag = "ApiTags::Members")]
impl InvitesApi {
    /// Create an invite link into a private room you are a member of.
    ///
    /// Scope: `write`.
    #[oai(path = "/rooms/:id/invites", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<Option<NewInvite>>,
    ) -> ApiResult<CreatedInvite> {
        let NewInvite {
            max_uses,
            expires_in,
        } = body.0.unwrap_or_default();
        let lifetime = expires_in.map(Duration::from_secs);
        let invite = self
            .state
            .chat
            .create_invite(
                parse_room_id(&id.0)?,
                &auth.caller().user,
                max_uses,
                lifetime,
            )
            .await?;
        let origin = origin_of(req, &self.state);
        Ok(CreatedInvite::Created(Json(InviteView::new(
            &invite, &origin,
        ))))
    }

    /// The invites of a room (members and admins).
    ///
    /// Scope: `read`.
    #[oai(path = "/rooms/:id/invites", method = "get")]
    async fn list(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<InviteList>> {
        let invites = self
            .state
            .chat
            .invites(parse_room_id(&id.0)?, &auth.caller().user)?;
        Ok(Json(InviteList {
            invites: invites.iter().map(|i| InviteView::new(i, "")).collect(),
        }))
    }

    /// Revoke an invite (its creator, the room's owner or an admin).
    ///
    /// Scope: `write`.
    #[oai(path = "/rooms/:id/invites/:invite_id", method = "delete")]
    async fn delete(
        &self,
        auth: Auth,
        id: Path<String>,
        invite_id: Path<String>,
    ) -> ApiResult<DeletedInvite> {
        self.state
            .chat
            .delete_invite(parse_room_id(&id.0)?, &invite_id.0, &auth.caller().user)
            .await?;
        Ok(DeletedInvite::Deleted)
    }

    /// Use an invite: you become a member of its room (a member using it again uses nothing).
    ///
    /// Scope: `write`.
    #[oai(path = "/invites/:code/accept", method = "post")]
    async fn accept(&self, auth: Auth, code: Path<String>) -> ApiResult<Json<RoomView>> {
        let room = self
            .state
            .chat
            .accept_invite(&code.0, &auth.caller().user)
            .await?;
        Ok(Json(RoomView::from(&room)))
    }
}
