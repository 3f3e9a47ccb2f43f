//! `/api/rooms/{id}/members`: who is in a room, adding and removing them.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::rooms::parse_room_id;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::error::Error;
use crate::store::Role;
use crate::wire::MemberView;

#[derive(Debug, Object)]
pub struct MemberList {
    /// Longest-standing first.
    pub members: Vec<MemberView>,
}

#[derive(Debug, Object, Default)]
pub struct MemberChange {
    /// `owner` or `member`; only owners and admins may set it. Default: `member` for someone
    /// new, unchanged for a member.
    pub role: Option<String>,
}

#[derive(ApiResponse)]
pub enum PutMember {
    /// Added: they got `added` on every connection.
    #[oai(status = 201)]
    Added(Json<MemberView>),
    /// Already a member (their role as asked).
    #[oai(status = 200)]
    Unchanged(Json<MemberView>),
}

#[derive(ApiResponse)]
pub enum RemovedMember {
    /// Removed: every connection of theirs got `removed` and left the room.
    #[oai(status = 204)]
    Removed,
}

pub struct MembersApi {
    pub state: AppState,
}

fn parse_role(role: Option<&str>) -> Result<Option<Role>, Error> {
    match role.map(str::trim) {
        None => Ok(None),
        Some("owner") => Ok(Some(Role::Owner)),
        Some("member") => Ok(Some(Role::Member)),
        Some(other) => Err(Error::invalid(
            "invalid_role",
            format!("role is \"owner\" or \"member\", not {other:?}"),
        )),
    }
}

impl MembersApi {
    fn view(&self, member: &crate::chat::model::Member) -> Result<MemberView, Error> {
        let is_bot = self.state.accounts.is_bot(&member.username)?;
        Ok(MemberView::new(member, is_bot))
    }
}

#[OpenApi(prefix_path = "/rooms", tag = "ApiTags::Members")]
impl MembersApi {
    /// The members of a room you can see, with their roles.
    ///
    /// Scope: `read`.
    #[oai(path = "/:id/members", method = "get")]
    async fn list(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<MemberList>> {
        let members = self
            .state
            .chat
            .members(parse_room_id(&id.0)?, &auth.caller().user)?;
        let members = members
            .iter()
            .map(|member| self.view(member))
            .collect::<Result<_, _>>()?;
        Ok(Json(MemberList { members }))
    }

    /// Add someone to a public or private room you are a member of, or (owners and admins)
    /// change a member's role. Direct rooms keep the people they were opened with.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/members/:username", method = "put")]
    async fn put(
        &self,
        auth: Auth,
        id: Path<String>,
        username: Path<String>,
        body: StrictJson<Option<MemberChange>>,
    ) -> ApiResult<PutMember> {
        let change = body.0.unwrap_or_default();
        let role = parse_role(change.role.as_deref())?;
        let (member, added) = self
            .state
            .chat
            .put_member(
                parse_room_id(&id.0)?,
                &username.0,
                role,
                &auth.caller().user,
            )
            .await?;
        let view = Json(self.view(&member)?);
        Ok(if added {
            PutMember::Added(view)
        } else {
            PutMember::Unchanged(view)
        })
    }

    /// Remove a member (owners and admins), or yourself. The last owner can only be removed
    /// by an admin; ownership then passes to the longest-standing member.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/members/:username", method = "delete")]
    async fn delete(
        &self,
        auth: Auth,
        id: Path<String>,
        username: Path<String>,
    ) -> ApiResult<RemovedMember> {
        self.state
            .chat
            .remove_member(parse_room_id(&id.0)?, &username.0, &auth.caller().user)
            .await?;
        Ok(RemovedMember::Removed)
    }
}
