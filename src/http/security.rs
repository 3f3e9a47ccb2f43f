//! Who is calling: a session token from the `confab_session` cookie or an `Authorization:
//! Bearer` header, and the browser-origin checks that stop cross-site use of the cookie.

use poem::http::{header, Method};
use poem::Request;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;

use crate::app::AppState;
use crate::chat::model::User;
use crate::error::Error;

pub const SESSION_COOKIE: &str = "confab_session";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub token: String,
}

/// A session token in `Authorization: Bearer <token>`, as returned by register/login.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct BearerAuth(Caller);

/// The session cookie a browser gets from register/login.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_in = "cookie",
    key_name = "confab_session",
    checker = "check_cookie"
)]
pub struct CookieAuth(Caller);

/// Either way of authenticating; a bearer token is tried first.
#[derive(SecurityScheme)]
pub enum Auth {
    Bearer(BearerAuth),
    Cookie(CookieAuth),
}

impl Auth {
    pub fn caller(&self) -> &Caller {
        match self {
            Auth::Bearer(BearerAuth(caller)) | Auth::Cookie(CookieAuth(caller)) => caller,
        }
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    authenticate(req, bearer.token)
}

async fn check_cookie(req: &Request, key: ApiKey) -> poem::Result<Caller> {
    let state = app_state(req)?;
    // A cookie is sent by the browser on its own: a state-changing request carrying one must
    // come from a page of ours, or it could be a cross-site request forgery.
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !origin_allowed(req, &state.config.auth.allowed_origins) {
        return Err(Error::Forbidden("cross-site request refused".into()).into());
    }
    authenticate(req, key.key)
}

fn authenticate(req: &Request, token: String) -> poem::Result<Caller> {
    let state = app_state(req)?;
    let user = state.accounts.authenticate(&token)?;
    Ok(Caller { user, token })
}

fn app_state(req: &Request) -> poem::Result<AppState> {
    req.data::<AppState>()
        .cloned()
        .ok_or_else(|| Error::ShuttingDown.into())
}

/// The session token of a request that does not go through poem-openapi (the WebSocket upgrade).
pub fn request_token(req: &Request) -> Option<String> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Some(token.trim().to_string());
        }
    }
    let cookies = req.headers().get_all(header::COOKIE);
    cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.trim().to_string())
        })
}

/// True when the request has no `Origin` (not a browser's cross-site request) or its origin is
/// this server's own (same host as `Host`) or listed in `auth.allowed_origins`. A browser that
/// omits `Origin` but says `Sec-Fetch-Site: cross-site` is refused too.
pub fn origin_allowed(req: &Request, allowed: &[String]) -> bool {
    let headers = req.headers();
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        return fetch_site != Some("cross-site");
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    !origin_host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}
