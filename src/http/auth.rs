//! `/api/auth/*`: sign up, log in, log out, and who am I.

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::{ApiResult, ErrorResponse};
use super::security::{origin_allowed, Auth, SESSION_COOKIE};
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::auth::{Access, NewSession};
use crate::error::Error;
use crate::wire::UserView;

/// A username and password. Not `Debug`: a password must never reach a log line.
#[derive(Object)]
pub struct Credentials {
    /// 3-32 characters of `[a-z0-9_.-]` (upper case is folded to lower case).
    pub username: String,
    /// 8 to 1024 bytes.
    #[oai(write_only)]
    pub password: String,
}

#[derive(Debug, Object)]
pub struct SessionView {
    pub user: UserView,
    /// Session token for `Authorization: Bearer <token>`; browsers use the cookie instead.
    pub token: String,
}

#[derive(Debug, Object)]
pub struct MeView {
    pub user: UserView,
    /// The scopes of the access token the request came with (`read`, `write`, `admin`);
    /// absent for a login session, which may do everything the account may.
    #[oai(skip_serializing_if_is_none)]
    pub scopes: Option<Vec<String>>,
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// The account exists and is logged in.
    #[oai(status = 201)]
    Created(Json<SessionView>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum LoginResponse {
    #[oai(status = 200)]
    Ok(Json<SessionView>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// The session is over; the cookie is cleared.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Set-Cookie")] String),
}

pub struct AuthApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account (the first account on a server becomes its admin) and log in.
    #[oai(path = "/register", method = "post")]
    async fn register(
        &self,
        req: &Request,
        body: StrictJson<Credentials>,
    ) -> ApiResult<RegisterResponse> {
        self.refuse_cross_site(req)?;
        let Credentials { username, password } = body.0;
        let session = self.state.accounts.register(&username, password).await?;
        let cookie = self.session_cookie(&session.token);
        Ok(RegisterResponse::Created(
            Json(session_view(session)),
            cookie,
        ))
    }

    /// Log in with a username and password. Wrong passwords and unknown users get the same 401.
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        req: &Request,
        body: StrictJson<Credentials>,
    ) -> ApiResult<LoginResponse> {
        self.refuse_cross_site(req)?;
        let Credentials { username, password } = body.0;
        let client = req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let session = match self
            .state
            .accounts
            .login(&username, password, &client)
            .await
        {
            Ok(session) => session,
            Err(err) => {
                tracing::info!(user = %username.trim().to_ascii_lowercase(), %client, reason = err.code(), "login refused");
                return Err(err.into());
            }
        };
        let cookie = self.session_cookie(&session.token);
        Ok(LoginResponse::Ok(Json(session_view(session)), cookie))
    }

    /// End the current session: its token and cookie stop working at once. Called with a
    /// personal access token, this revokes that token. Scope: `write`.
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, auth: Auth) -> ApiResult<LogoutResponse> {
        let caller = auth.caller();
        let token = &caller.token;
        match caller.access() {
            Access::Session => self.state.accounts.logout(token).await?,
            Access::Token { id, .. } => {
                let owner = &caller.authenticated.user.username;
                self.state.accounts.revoke_token(owner, id).await?;
            }
        }
        // Sockets opened with this session end too; the user's other sessions are untouched.
        self.state
            .chat
            .hub()
            .connections()
            .disconnect_session(&crate::auth::tokens::hash(token));
        Ok(LogoutResponse::LoggedOut(
            self.cookie_with(String::new(), 0),
        ))
    }

    /// The logged-in user (the account itself, whatever the token's scopes). Scope: `read`.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: Auth) -> ApiResult<Json<MeView>> {
        let caller = auth.caller();
        let scopes = caller
            .access()
            .scopes()
            .map(|scopes| scopes.names().into_iter().map(String::from).collect());
        Ok(Json(MeView {
            user: UserView::from(&caller.authenticated.user),
            scopes,
        }))
    }
}

impl AuthApi {
    /// Another site must not log a visitor in to an account of its choosing (login CSRF).
    fn refuse_cross_site(&self, req: &Request) -> Result<(), ErrorResponse> {
        if origin_allowed(req, &self.state.config.auth.allowed_origins) {
            return Ok(());
        }
        Err(Error::Forbidden("cross-site request refused".into()).into())
    }

    fn session_cookie(&self, token: &str) -> String {
        self.cookie_with(
            token.to_string(),
            self.state.config.auth.session_lifetime.as_secs(),
        )
    }

    fn cookie_with(&self, value: String, max_age_secs: u64) -> String {
        let secure = if self.state.config.auth.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}")
    }
}

fn session_view(session: NewSession) -> SessionView {
    SessionView {
        user: UserView::from(&session.user),
        token: session.token,
    }
}
