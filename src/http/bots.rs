//! `/api/bots`: bot accounts (admins create them) and their access tokens (their owner or an
//! admin mints, lists and revokes them).

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::tokens::{CreatedToken, NewTokenBody, RevokedToken, TokenList};
use super::ApiTags;
use crate::app::AppState;
use crate::auth::BotSummary;
use crate::wire::format_time;

#[derive(Debug, Object)]
pub struct NewBot {
    /// 3-32 characters of `[a-z0-9_.-]`, like any username.
    pub username: String,
    /// The person who may mint and revoke its tokens besides admins; absent for none.
    pub owner: Option<String>,
}

/// A bot account: a `User` (with `is_bot: true`) and its owner.
#[derive(Debug, Object)]
#[oai(rename = "Bot")]
pub struct BotView {
    pub username: String,
    /// Always false: a bot is never an administrator when made.
    pub is_admin: bool,
    pub created_at: String,
    /// Always true.
    pub is_bot: bool,
    /// Null when it has none (admins manage it).
    #[oai(nullable)]
    pub owner: Option<String>,
}

impl From<&BotSummary> for BotView {
    fn from(bot: &BotSummary) -> Self {
        Self {
            username: bot.username.clone(),
            is_admin: false,
            created_at: format_time(bot.created_at_ms),
            is_bot: true,
            owner: bot.owner.clone(),
        }
    }
}

#[derive(Debug, Object)]
pub struct BotList {
    /// By username.
    pub bots: Vec<BotView>,
}

#[derive(ApiResponse)]
pub enum CreatedBot {
    /// The bot exists; mint its first token with `POST /api/bots/{username}/tokens`.
    #[oai(status = 201)]
    Created(Json<BotView>),
}

pub struct BotsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/bots", tag = "ApiTags::Integrations")]
impl BotsApi {
    /// Create a bot account (admins only). It cannot log in with a password and acts only
    /// through access tokens.
    ///
    /// Errors: 400 `invalid_username`; 403 `admin_required`, `insufficient_scope`; 404
    /// `user_not_found` (no such person to own it); 409 `username_taken`. Scopes: `write` and
    /// `admin`.
    #[oai(path = "/", method = "post")]
    async fn create(&self, auth: Auth, body: StrictJson<NewBot>) -> ApiResult<CreatedBot> {
        auth.caller().require_admin()?;
        let NewBot { username, owner } = body.0;
        let bot = self
            .state
            .accounts
            .create_bot(&username, owner.as_deref())
            .await?;
        Ok(CreatedBot::Created(Json(BotView::from(&bot))))
    }

    /// Every bot on the server, so clients can mark them. Scope: `read`.
    #[oai(path = "/", method = "get")]
    async fn list(&self, _auth: Auth) -> ApiResult<Json<BotList>> {
        let bots = self.state.accounts.bots()?;
        Ok(Json(BotList {
            bots: bots.iter().map(BotView::from).collect(),
        }))
    }

    /// Create an access token for a bot you own (admins: any bot). The body and answer are
    /// those of `POST /api/tokens`; the `admin` scope is refused unless the bot is an admin.
    ///
    /// Errors: as `POST /api/tokens`, and 403 `forbidden` (not its owner), 404
    /// `bot_not_found`. Scope: `write`.
    #[oai(path = "/:username/tokens", method = "post")]
    async fn create_token(
        &self,
        auth: Auth,
        username: Path<String>,
        body: StrictJson<NewTokenBody>,
    ) -> ApiResult<CreatedToken> {
        let issued = self
            .state
            .accounts
            .issue_bot_token(&auth.caller().authenticated, &username.0, body.0.into())
            .await?;
        Ok(CreatedToken::Created(Json(issued.into())))
    }

    /// The tokens of a bot you own (admins: any bot), without their secrets.
    ///
    /// Errors: 403 `forbidden`; 404 `bot_not_found`. Scope: `read`.
    #[oai(path = "/:username/tokens", method = "get")]
    async fn list_tokens(&self, auth: Auth, username: Path<String>) -> ApiResult<Json<TokenList>> {
        let tokens = self
            .state
            .accounts
            .bot_tokens(&auth.caller().user, &username.0)?;
        Ok(Json(TokenList::of(&tokens)))
    }

    /// Revoke a token of a bot you own (admins: any bot); its WebSockets close at once (4003).
    ///
    /// Errors: 403 `forbidden`; 404 `bot_not_found`, `token_not_found`. Scope: `write`.
    #[oai(path = "/:username/tokens/:id", method = "delete")]
    async fn revoke_token(
        &self,
        auth: Auth,
        username: Path<String>,
        id: Path<String>,
    ) -> ApiResult<RevokedToken> {
        let hash = self
            .state
            .accounts
            .revoke_bot_token(&auth.caller().user, &username.0, &id.0)
            .await?;
        self.state
            .chat
            .hub()
            .connections()
            .disconnect_session(&hash);
        Ok(RevokedToken::Revoked)
    }
}
