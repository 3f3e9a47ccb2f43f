//! `GET /metrics` for Prometheus, and the mapping from request paths to the bounded labels the
//! request metrics use.
//!
//! No authentication, like `/healthz`: it is served on the same listener as the chat, so
//! operators who expose confab beyond a reverse proxy should block `/metrics` there. It reveals
//! counts and versions, never ids, names or message contents.

use poem::http::{Method, StatusCode};
use poem::web::Data;
use poem::{handler, IntoResponse, Response};

use crate::app::AppState;
use crate::error::Error;
use crate::metrics::CONTENT_TYPE;

/// Serves the scrape. Live rooms are counted here, off the async workers, from the room records
/// (few, unlike messages, which are never counted by scanning).
#[handler]
pub async fn metrics(Data(state): Data<&AppState>) -> poem::Result<Response> {
    let chat = state.chat.clone();
    let rooms_live = tokio::task::spawn_blocking(move || chat.live_room_count())
        .await
        .map_err(|_| Error::ShuttingDown)??;
    let body = state
        .metrics
        .encode(rooms_live)
        .map_err(|_| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
    Ok(body.with_content_type(CONTENT_TYPE).into_response())
}

/// The route template a request path was served by, e.g. `/api/rooms/{id}/messages`: the
/// `route` label must never carry the raw path, whose ids would make one series per room and
/// put ids into the metrics. Paths no route serves become `other`.
pub fn route_template(path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/api") else {
        return page_template(path);
    };
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    match segments.as_slice() {
        ["auth", "register"] => "/api/auth/register",
        ["auth", "login"] => "/api/auth/login",
        ["auth", "logout"] => "/api/auth/logout",
        ["auth", "me"] => "/api/auth/me",
        ["rooms"] | ["rooms", ""] => "/api/rooms",
        ["rooms", id] if !id.is_empty() => "/api/rooms/{id}",
        ["rooms", id, "messages"] if !id.is_empty() => "/api/rooms/{id}/messages",
        ["ws"] => "/api/ws",
        ["hooks", secret] if !secret.is_empty() => "/api/hooks/{secret}",
        ["openapi.json"] => "/api/openapi.json",
        ["docs", ..] => "/api/docs",
        _ => "other",
    }
}

/// Outside `/api`: the health check, the scrape itself, and the embedded web UI's files.
fn page_template(path: &str) -> &'static str {
    match path {
        "/" | "/index.html" => "/",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        "/favicon.svg" => "static",
        _ if path.starts_with("/css/") || path.starts_with("/js/") => "static",
        _ => "other",
    }
}

/// The method as a label: the standard ones by name, anything else (clients may invent
/// methods) as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_route_templates_replace_ids() {
        let room = "01JABCDEFGHJKMNPQRSTVWXYZ0";
        let cases = [
            ("/api/rooms", "/api/rooms"),
            ("/api/rooms/", "/api/rooms"),
            (&format!("/api/rooms/{room}"), "/api/rooms/{id}"),
            (
                &format!("/api/rooms/{room}/messages"),
                "/api/rooms/{id}/messages",
            ),
            ("/api/rooms/not-an-id/messages", "/api/rooms/{id}/messages"),
            ("/api/auth/register", "/api/auth/register"),
            ("/api/auth/login", "/api/auth/login"),
            ("/api/auth/logout", "/api/auth/logout"),
            ("/api/auth/me", "/api/auth/me"),
            ("/api/ws", "/api/ws"),
            ("/api/openapi.json", "/api/openapi.json"),
            ("/api/docs", "/api/docs"),
            ("/api/docs/", "/api/docs"),
            ("/healthz", "/healthz"),
            ("/metrics", "/metrics"),
            ("/", "/"),
            ("/index.html", "/"),
            ("/favicon.svg", "static"),
            ("/css/app.css", "static"),
            ("/js/chat/view.js", "static"),
        ];
        for (path, template) in cases {
            assert_eq!(route_template(path), template, "{path}");
        }
    }

    #[test]
    fn metrics_unknown_paths_are_other() {
        for path in [
            "/wp-login.php",
            "/api",
            "/api/",
            "/api/rooms//messages",
            "/api/rooms/x/messages/y",
            "/api/rooms/x/members",
            "/api/auth/register/extra",
            "/apiary",
            "/healthz/x",
            "/metrics/",
            "",
        ] {
            assert_eq!(route_template(path), "other", "{path}");
        }
    }

    #[test]
    fn metrics_methods_are_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes(b"BREW").expect("method");
        assert_eq!(method_label(&invented), "other");
    }
}
