//! The WebSocket chat endpoint, `GET /api/ws`: authentication and origin checks before the
//! upgrade, then one session task per connection.

mod handshake;
pub mod protocol;
pub mod rate;
mod session;
mod write_batch;

use poem::web::Data;
use poem::{handler, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub use session::{CLOSE_LAGGED, CLOSE_REVOKED};

use crate::app::AppState;
use crate::auth::Scope;
use crate::chat::connection::{ConnectionLimits, ConnectionSlot};
use crate::chat::model::User;
use crate::error::Error;
use crate::http::error::{ErrorBody, ErrorResponse};
use crate::http::security::{origin_allowed, request_token};

/// Upgrades to a chat session. 401 without a valid session or access token, 403 for a foreign
/// `Origin` or an access token without the `read` scope, 429 when the user or the client
/// address already holds its share of connections.
#[handler]
pub async fn upgrade(req: &Request, Data(state): Data<&AppState>) -> poem::Result<Response> {
    if !origin_allowed(req, &state.config.auth.allowed_origins) {
        return Err(
            Error::Forbidden("WebSocket connections from other sites are refused".into()).into(),
        );
    }
    let token = request_token(req).ok_or(Error::Unauthorized)?;
    let authenticated = state.accounts.authenticate(&token)?;
    // Receiving is reading; the sending frames check `write` one by one (see `session`).
    authenticated.access.require(Scope::Read)?;
    let can_write = authenticated.access.allows(Scope::Write);
    let user = authenticated.acting_user();
    if state.shutdown.is_cancelled() {
        return Err(Error::ShuttingDown.into());
    }
    let handshake = handshake::Handshake::from_request(req)?;
    let slot = reserve_slot(req, state, &user)?;
    let state = state.clone();
    let config = socket_config(&state);
    // The slot moves into the session: if the upgrade never completes, the session is dropped
    // unrun and with it the slot, so an abandoned upgrade does not hold a place.
    Ok(handshake.accept(config, move |socket| {
        session::run(socket, state, user, token, can_write, slot)
    }))
}

/// Seconds a client refused for too many connections is told to wait (`Retry-After`).
const RETRY_CONNECTION_SECS: u64 = 5;

/// Takes a place under `limits.max_connections_per_user` and `_per_ip`, or answers 429
/// `too_many_connections`: one account or one address must not be able to hold every socket
/// and task of the server.
fn reserve_slot(req: &Request, state: &AppState, user: &User) -> poem::Result<ConnectionSlot> {
    let limits = &state.config.limits;
    let ip = req.remote_addr().as_socket_addr().map(|addr| addr.ip());
    let wanted = ConnectionLimits {
        per_user: limits.max_connections_per_user,
        per_ip: limits.max_connections_per_ip,
    };
    state
        .chat
        .hub()
        .connections()
        .reserve(&user.username, ip, wanted)
        .map_err(|refused| {
            tracing::debug!(user = %user.username, ?ip, %refused, "websocket refused");
            let body = ErrorBody::new("too_many_connections", refused.to_string());
            ErrorResponse::RateLimited(body, RETRY_CONNECTION_SECS).into()
        })
}

/// Small buffers: tungstenite's defaults (128 KiB read buffer) would cost ~145 KiB per idle
/// connection. Client frames are small (a join, a chat line); a larger one grows the read
/// buffer for itself. Frames are written straight through to `WriteBatch`, which gathers them
/// until the flush. Messages above the hard cap end the connection; those above
/// `max_frame_bytes` but under the cap get a `too_large` error frame and the connection stays
/// open.
fn socket_config(state: &AppState) -> WebSocketConfig {
    let frame = state.config.limits.max_frame_bytes;
    let hard_cap = (frame * 4).max(64 * 1024);
    WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(hard_cap))
        .max_frame_size(Some(hard_cap))
}
