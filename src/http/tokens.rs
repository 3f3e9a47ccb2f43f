//! `/api/tokens`: personal access tokens for scripts, CI jobs and API clients: create one (the
//! secret is shown once), list yours, revoke one.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::auth::{AccessToken, IssuedToken, TokenRequest};
use crate::wire::format_time;

/// What a new token may do and for how long.
#[derive(Debug, Object)]
#[oai(rename = "NewToken")]
pub struct NewTokenBody {
    /// What it is for, 1 to 64 characters (e.g. `ci deploy`).
    pub name: String,
    /// At least one of `read` (GET operations, receiving over the WebSocket), `write` (every
    /// other operation and the WebSocket's sending frames) and `admin` (admin operations, and
    /// an admin's powers over others' rooms and messages; only admins get it). A token used to
    /// create another can only give scopes it has itself.
    pub scopes: Vec<String>,
    /// Seconds until it expires: 1 to 31536000 (one year). Absent: it never expires.
    pub expires_in: Option<u64>,
}

impl From<NewTokenBody> for TokenRequest {
    fn from(body: NewTokenBody) -> Self {
        Self {
            name: body.name,
            scopes: body.scopes,
            expires_in: body.expires_in,
        }
    }
}

/// A personal access token, without its secret.
#[derive(Debug, Object)]
#[oai(rename = "Token")]
pub struct TokenView {
    /// Names it for revoking (a ULID).
    pub id: String,
    pub name: String,
    /// In the order `read`, `write`, `admin`.
    pub scopes: Vec<String>,
    pub created_at: String,
    /// Null for a token that never expires.
    #[oai(nullable)]
    pub expires_at: Option<String>,
    /// When it was last used, to the minute; null if never.
    #[oai(nullable)]
    pub last_used_at: Option<String>,
}

impl From<&AccessToken> for TokenView {
    fn from(token: &AccessToken) -> Self {
        Self {
            id: token.id.clone(),
            name: token.name.clone(),
            scopes: token.scopes.names().into_iter().map(String::from).collect(),
            created_at: format_time(token.created_at_ms),
            expires_at: token.expires_at_ms.map(format_time),
            last_used_at: token.last_used_at_ms.map(format_time),
        }
    }
}

/// A new token with its secret. Not `Debug`: the secret must never reach a log line.
#[derive(Object)]
#[oai(rename = "IssuedToken")]
pub struct IssuedTokenView {
    pub token: TokenView,
    /// `cfb_` and 43 more characters: send it as `Authorization: Bearer <secret>`. Shown only
    /// in this answer; the server keeps a hash.
    pub secret: String,
}

impl From<IssuedToken> for IssuedTokenView {
    fn from(issued: IssuedToken) -> Self {
        Self {
            token: TokenView::from(&issued.token),
            secret: issued.secret,
        }
    }
}

#[derive(Debug, Object)]
pub struct TokenList {
    /// Oldest first; expired tokens are left out.
    pub tokens: Vec<TokenView>,
}

impl TokenList {
    pub fn of(tokens: &[AccessToken]) -> Self {
        Self {
            tokens: tokens.iter().map(TokenView::from).collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum CreatedToken {
    /// The only answer that shows the secret.
    #[oai(status = 201)]
    Created(Json<IssuedTokenView>),
}

#[derive(ApiResponse)]
pub enum RevokedToken {
    /// Revoked: it is refused from now on, and WebSockets opened with it are closed (4003).
    #[oai(status = 204)]
    Revoked,
}

pub struct TokensApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/tokens", tag = "ApiTags::Integrations")]
impl TokensApi {
    /// Create a personal access token for your account.
    ///
    /// Errors: 400 `invalid_token_name`, `invalid_scope` (unknown or none), `invalid_expiry`;
    /// 403 `admin_required` (the `admin` scope for a non-admin), `insufficient_scope`; 409
    /// `too_many_tokens` (50 per account). Scope: `write`.
    #[oai(path = "/", method = "post")]
    async fn create(&self, auth: Auth, body: StrictJson<NewTokenBody>) -> ApiResult<CreatedToken> {
        let issued = self
            .state
            .accounts
            .issue_own_token(&auth.caller().authenticated, body.0.into())
            .await?;
        Ok(CreatedToken::Created(Json(issued.into())))
    }

    /// Your personal access tokens, without their secrets. Scope: `read`.
    #[oai(path = "/", method = "get")]
    async fn list(&self, auth: Auth) -> ApiResult<Json<TokenList>> {
        let owner = &auth.caller().authenticated.user.username;
        let tokens = self.state.accounts.tokens_of(owner)?;
        Ok(Json(TokenList::of(&tokens)))
    }

    /// Revoke one of your tokens at once; its open WebSockets are closed with 4003.
    ///
    /// Errors: 404 `token_not_found`. Scope: `write`.
    #[oai(path = "/:id", method = "delete")]
    async fn revoke(&self, auth: Auth, id: Path<String>) -> ApiResult<RevokedToken> {
        let owner = &auth.caller().authenticated.user.username;
        let hash = self.state.accounts.revoke_token(owner, &id.0).await?;
        self.state
            .chat
            .hub()
            .connections()
            .disconnect_session(&hash);
        Ok(RevokedToken::Revoked)
    }
}
