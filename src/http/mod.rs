//! The REST API (poem-openapi), its documentation, and the HTTP plumbing around it.

mod allow;
mod attachments;
mod auth;
mod bots;
mod directs;
pub mod error;
pub mod header_deadline;
mod health;
mod invites;
mod keys;
mod members;
mod messages;
mod metrics;
pub mod middleware;
mod push;
mod read_state;
mod rooms;
mod search;
pub mod security;
mod serialized;
mod strict_json;
mod tokens;
mod webhooks;

use std::sync::Arc;

use poem::endpoint::EmbeddedFilesEndpoint;
use poem::middleware::Compression;
use poem::{EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::app::AppState;
use crate::assets::Assets;

#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and sessions.
    Auth,
    /// Rooms: live for `rooms.ttl` after creation.
    Rooms,
    /// A room's messages.
    Messages,
    /// Who is in a room: members, invites, direct rooms, the user directory.
    Members,
    /// Personal access tokens with scopes, bot accounts, incoming and outgoing webhooks.
    Integrations,
    /// Web Push subscriptions of your browsers.
    Notifications,
    /// Keys of end-to-end encrypted rooms (docs/encrypted-rooms.md).
    Encryption,
    /// Full-text search of the messages you may read.
    Search,
}

/// Every API area, combined into one OpenAPI service.
pub type Apis = (
    auth::AuthApi,
    rooms::RoomsApi,
    messages::MessagesApi,
    members::MembersApi,
    invites::InvitesApi,
    directs::DirectsApi,
    tokens::TokensApi,
    bots::BotsApi,
    webhooks::WebhooksApi,
    webhooks::HooksApi,
    read_state::ReadStateApi,
    push::PushApi,
    attachments::AttachmentsApi,
    keys::KeysApi,
    search::SearchApi,
);

/// The REST API as an OpenAPI service, served under `/api`.
pub fn api_service(state: &AppState) -> OpenApiService<Apis, ()> {
    let apis = (
        auth::AuthApi {
            state: state.clone(),
        },
        rooms::RoomsApi {
            state: state.clone(),
        },
        messages::MessagesApi {
            state: state.clone(),
        },
        members::MembersApi {
            state: state.clone(),
        },
        invites::InvitesApi {
            state: state.clone(),
        },
        directs::DirectsApi {
            state: state.clone(),
        },
        tokens::TokensApi {
            state: state.clone(),
        },
        bots::BotsApi {
            state: state.clone(),
        },
        webhooks::WebhooksApi {
            state: state.clone(),
        },
        webhooks::HooksApi {
            state: state.clone(),
        },
        read_state::ReadStateApi {
            state: state.clone(),
        },
        push::PushApi {
            state: state.clone(),
        },
        attachments::AttachmentsApi {
            state: state.clone(),
        },
        keys::KeysApi {
            state: state.clone(),
        },
        search::SearchApi {
            state: state.clone(),
        },
    );
    OpenApiService::new(apis, "confab", env!("CARGO_PKG_VERSION"))
        .description(
            "Team chat REST API. Authenticate with the `confab_session` cookie (browsers) or \
             `Authorization: Bearer <token>` with a session token from register/login or a \
             personal access token (`cfb_...`, from `POST /api/tokens`). An access token needs \
             the `read` scope for GET operations and `write` for every other method; admin \
             operations need `admin` as well. A request beyond the token's scopes is answered \
             403 `insufficient_scope`. Each operation's description names its scope. Real-time \
             chat is the WebSocket at `/api/ws`, described in docs/protocol.md.",
        )
        .server("/api")
}

/// Every route of the server, with its middleware.
pub fn routes(state: AppState) -> impl poem::Endpoint {
    let recorder = state.metrics.clone();
    let access_log = state.config.log.access;
    let service = api_service(&state);
    let allow = Arc::new(allow::AllowTable::from_spec(&service.spec(), "/api"));
    let spec = service.spec_endpoint();
    let docs = service.swagger_ui().with(Compression::new());
    let api = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at("/ws", crate::ws::upgrade)
        .nest("/", service)
        .with(middleware::BodyLimit {
            max: state.config.limits.max_body_bytes,
        });
    Route::new()
        .nest("/api", api)
        .at("/healthz", health::healthz)
        .at("/metrics", metrics::metrics)
        .nest(
            "/",
            EmbeddedFilesEndpoint::<Assets>::new().with(Compression::new()),
        )
        .data(state)
        .around(middleware::security_headers)
        .around(move |next, req| allow::allow_on_405(allow.clone(), next, req))
        .around(move |next, req| middleware::log_requests(recorder.clone(), access_log, next, req))
}
