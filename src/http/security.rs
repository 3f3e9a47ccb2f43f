//! Who is calling: a session token from the `confab_session` cookie or an `Authorization:
//! Bearer` header, or a personal access token as a bearer; the scope check of access tokens;
//! and the browser-origin checks that stop cross-site use of the cookie.

use poem::http::{header, Method};
use poem::{Request, RequestBody};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

use crate::app::AppState;
use crate::auth::{Access, Authenticated, Scope};
use crate::chat::model::User;
use crate::error::Error;

pub const SESSION_COOKIE: &str = "confab_session";

/// The authenticated caller of a request.
#[derive(Clone)]
pub struct Caller {
    /// The user as the domain treats them: an admin calling with an access token that lacks
    /// the `admin` scope acts as a regular member.
    pub user: User,
    /// The credential as presented (session token or access token secret).
    pub token: String,
    /// The account and how it authenticated.
    pub authenticated: Authenticated,
}

impl Caller {
    pub fn access(&self) -> &Access {
        &self.authenticated.access
    }

    /// For admin routes: 403 `insufficient_scope` for an access token without `admin`, then
    /// 403 `admin_required` for an account that is not an admin.
    pub fn require_admin(&self) -> Result<(), Error> {
        self.authenticated.require_admin()
    }
}

/// Never prints the credential.
impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user", &self.user)
            .field("access", self.access())
            .finish_non_exhaustive()
    }
}

/// `Authorization: Bearer <token>`: a session token from register/login, or a personal access
/// token (`cfb_...`) from `POST /api/tokens`. An access token allows what its scopes allow:
/// `read` for GET operations, `write` for every other method, `admin` in addition for admin
/// operations and an admin's powers on shared ones; beyond them the answer is 403
/// `insufficient_scope`.
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
///
/// Written out rather than derived: the derived `SecurityScheme` enum answers with the error of
/// the last scheme it tried, so a valid access token refused for its scope (403 from the bearer
/// checker) would turn into the cookie's 401 "missing". Here a scope refusal is the answer;
/// any other bearer failure falls back to the cookie, as before.
pub enum Auth {
    Bearer(BearerAuth),
    Cookie(CookieAuth),
}

impl<'a> ApiExtractor<'a> for Auth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <BearerAuth as ApiExtractor>::register(registry);
        <CookieAuth as ApiExtractor>::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        let mut schemes = <BearerAuth as ApiExtractor>::security_schemes();
        schemes.extend(<CookieAuth as ApiExtractor>::security_schemes());
        schemes
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match <BearerAuth as ApiExtractor>::from_request(req, body, param_opts.clone()).await {
            Ok(bearer) => return Ok(Auth::Bearer(bearer)),
            Err(err) if err.status() == poem::http::StatusCode::FORBIDDEN => return Err(err),
            Err(_) => {}
        }
        <CookieAuth as ApiExtractor>::from_request(req, body, param_opts)
            .await
            .map(Auth::Cookie)
    }
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
    let authenticated = state.accounts.authenticate(&token)?;
    authenticated.access.require(required_scope(req.method()))?;
    Ok(Caller {
        user: authenticated.acting_user(),
        token,
        authenticated,
    })
}

/// What an access token needs for a request with `method`: `read` to look, `write` to change.
pub fn required_scope(method: &Method) -> Scope {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        Scope::Read
    } else {
        Scope::Write
    }
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
