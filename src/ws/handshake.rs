//! The server side of the WebSocket opening handshake (RFC 6455 section 4.2), done here rather
//! than by poem's extractor so the socket is built on our own write batching (`write_batch`)
//! with tungstenite writing every frame straight into it: an idle connection then holds no
//! write buffer at all (see docs/performance.md, "Idle connections").

use std::future::Future;

use poem::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Request, Response};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::write_batch::WriteBatch;
use crate::error::Error;

/// An open chat socket: tungstenite over the upgraded HTTP connection.
pub type Socket = WebSocketStream<WriteBatch<poem::Upgraded>>;

/// A request that asked for a WebSocket, checked, with its connection ready to be taken over.
pub struct Handshake {
    accept: HeaderValue,
    upgrade: poem::OnUpgrade,
}

impl Handshake {
    /// Checks the request's handshake headers and claims its connection; a request that is not
    /// a WebSocket opening handshake is answered 400 `bad_request`.
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        let refused = || Error::invalid("bad_request", "this endpoint expects a WebSocket upgrade");
        let headers = req.headers();
        let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or_else(refused)?;
        if req.method() != Method::GET
            || !header_is(headers, header::UPGRADE, "websocket")
            || !header_lists(headers, header::CONNECTION, "upgrade")
            || headers
                .get(header::SEC_WEBSOCKET_VERSION)
                .map(HeaderValue::as_bytes)
                != Some(b"13")
            || !valid_key(key)
        {
            return Err(refused());
        }
        let accept =
            HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|_| refused())?;
        let upgrade = req.take_upgrade().map_err(|_| refused())?;
        Ok(Self { accept, upgrade })
    }

    /// The `101 Switching Protocols` answer; once the client has it, `session` runs on the
    /// socket in a task of its own. If the connection is lost before that, `session` (and what
    /// it owns) is dropped without running.
    pub fn accept<F, Fut>(self, config: WebSocketConfig, session: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { accept, upgrade } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else {
                return;
            };
            let socket = WebSocketStream::from_raw_socket(
                WriteBatch::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            session(socket).await;
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .finish()
    }
}

/// `name` is `expected`, ignoring ASCII case.
fn header_is(headers: &HeaderMap, name: header::HeaderName, expected: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(expected.as_bytes()))
}

/// One of `name`'s comma-separated tokens is `token`, ignoring ASCII case (browsers send
/// `Connection: keep-alive, Upgrade`).
fn header_lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// A `Sec-WebSocket-Key` is 16 bytes in base64: 24 characters ending in `==`.
fn valid_key(key: &HeaderValue) -> bool {
    let key = key.as_bytes();
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sixteen_bytes_of_base64() {
        assert!(valid_key(&HeaderValue::from_static(
            "dGhlIHNhbXBsZSBub25jZQ=="
        )));
        assert!(!valid_key(&HeaderValue::from_static(
            "dGhlIHNhbXBsZSBub25jZQ"
        )));
        assert!(!valid_key(&HeaderValue::from_static(
            "dGhlIHNhbXBsZSBub25jZQ=a"
        )));
        assert!(!valid_key(&HeaderValue::from_static(
            "dGhlIHNhbXBsZS*ub25jZQ=="
        )));
        assert!(!valid_key(&HeaderValue::from_static("")));
    }

    #[test]
    fn connection_tokens_are_found_in_lists_and_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(header_lists(&headers, header::CONNECTION, "upgrade"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!header_lists(&headers, header::CONNECTION, "upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(header_is(&headers, header::UPGRADE, "websocket"));
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
