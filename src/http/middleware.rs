//! Cross-cutting HTTP behaviour: request logs and metrics, security headers, and the request
//! body limit.

use std::sync::Arc;
use std::time::Instant;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::Error;
use crate::metrics::Metrics;

/// The page may load only its own scripts, styles and sockets, and may not be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// Swagger UI ships inline scripts and styles, so its page gets a policy that allows them.
const DOCS_CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self' 'unsafe-inline'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// Counts every request in `metrics` under its route template and, when `access_log` is on
/// (`log.access`), logs one line for it: method, path (never the query or headers, which can
/// hold secrets), status and latency.
///
/// The line is optional because formatting and writing one per request costs real CPU under a
/// flood (logins, thousands of WebSockets reconnecting); the counts are cheap and stay. With the
/// log off the path is not even copied, and only faults (5xx but 503) are still logged.
pub async fn log_requests<E: Endpoint>(
    metrics: Arc<Metrics>,
    access_log: bool,
    next: E,
    req: Request,
) -> poem::Result<Response> {
    let started = Instant::now();
    let route = super::metrics::route_template(req.uri().path());
    let method = super::metrics::method_label(req.method());
    let logged = access_log.then(|| (req.method().clone(), loggable_path(req.uri().path())));
    let response = next.call(req).await.map(IntoResponse::into_response);
    let status = match &response {
        Ok(resp) => resp.status(),
        Err(err) => err.status(),
    };
    let elapsed = started.elapsed().as_secs_f64();
    metrics.http_request(route, method, status.as_u16(), elapsed);
    // 503 (busy, shutting down) is the server protecting itself, logged like any answer;
    // other 5xx are faults worth a warning, access log or not.
    let fault = status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE;
    let status = status.as_u16();
    let elapsed_ms = elapsed * 1000.0;
    match logged {
        Some((method, path)) if fault => {
            tracing::warn!(%method, %path, status, elapsed_ms, "request")
        }
        Some((method, path)) => tracing::info!(%method, %path, status, elapsed_ms, "request"),
        // Without the access log the route template stands in for the path it did not copy.
        None if fault => tracing::warn!(method, route, status, elapsed_ms, "request"),
        None => {}
    }
    response
}

/// The path as logged: an incoming webhook's URL is its secret, so it is logged by its route.
fn loggable_path(path: &str) -> String {
    if path.starts_with("/api/hooks/") {
        return "/api/hooks/{secret}".to_string();
    }
    path.to_string()
}

/// Adds CSP, nosniff, referrer and framing headers to every answer.
pub async fn security_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let is_docs = req.uri().path().starts_with("/api/docs");
    let is_api = req.uri().path().starts_with("/api/");
    let mut response = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => super::error::render(err).await,
    };
    let csp = if is_docs {
        DOCS_CONTENT_SECURITY_POLICY
    } else {
        CONTENT_SECURITY_POLICY
    };
    let headers = response.headers_mut();
    // An answer with a policy of its own (a stored file: `sandbox`) keeps it.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(csp));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_api && !headers.contains_key(header::CACHE_CONTROL) {
        // Assets carry ETags: revalidate every time, so a new release shows on the next reload.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}

/// `/api/rooms/{id}/attachments`, the one route whose body is not held in memory.
fn is_upload(path: &str) -> bool {
    path.strip_prefix("/api/rooms/")
        .and_then(|rest| rest.strip_suffix("/attachments"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Refuses request bodies over `max` bytes with 413, whether or not they declare a length.
pub struct BodyLimit {
    pub max: usize,
}

impl<E: Endpoint> poem::Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max: self.max,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return self.inner.call(req).await;
        }
        if *req.method() == Method::POST && is_upload(req.original_uri().path()) {
            // Uploads are streamed to disk under their own limits (`attachments.*`).
            return self.inner.call(req).await;
        }
        let too_large =
            || Error::TooLarge(format!("request bodies have at most {} bytes", self.max));
        let declared = req
            .header(header::CONTENT_LENGTH)
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max as u64) {
            return Err(too_large().into());
        }
        let body = req
            .take_body()
            .into_bytes_limit(self.max)
            .await
            .map_err(|err| match err {
                poem::error::ReadBodyError::PayloadTooLarge => poem::Error::from(too_large()),
                other => poem::Error::from_string(other.to_string(), StatusCode::BAD_REQUEST),
            })?;
        if body.is_empty() && req.header(header::CONTENT_TYPE).is_none() {
            // A request with nothing to say (e.g. `PUT /rooms/{id}/members/{name}`, whose body
            // is optional) is JSON `null`: routes with an optional body read it as absent, the
            // others refuse it as a bad request.
            req.headers_mut().insert(
                header::CONTENT_TYPE,
                poem::http::HeaderValue::from_static("application/json"),
            );
            req.set_body(&b"null"[..]);
        } else {
            req.set_body(body);
        }
        self.inner.call(req).await
    }
}
