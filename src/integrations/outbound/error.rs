//! The one error type of outgoing calls, and the place a `reqwest::Error` becomes one of them.
//!
//! Messages name the host, the address and the cause, never the request's headers or body (they
//! carry signatures and secrets) and never the full URL (webhook URLs often hold a secret token
//! in their path or query).

use std::error::Error as StdError;
use std::io;
use std::net::IpAddr;

/// Why an outgoing call was refused or failed. `code()` gives each kind a stable name for API
/// answers and delivery logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// Not a URL confab calls: bad syntax, a scheme other than http/https, credentials in it,
    /// no host, or too long.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The host is, or resolves to, an internal address (loopback, private, link-local, ...)
    /// that no entry of `integrations.allowed_networks` opens.
    #[error(
        "refused address {address} for {host}: outgoing calls may not reach loopback, private, \
         link-local or other internal addresses unless integrations.allowed_networks lists them"
    )]
    ForbiddenAddress { host: String, address: IpAddr },
    /// The host name did not resolve to any address.
    #[error("{0} does not resolve to any address")]
    Unresolvable(String),
    /// The call did not complete (connect, send, whole answer) within the time limit.
    #[error("no complete answer within the time limit")]
    Timeout,
    /// The TCP connection could not be made (refused, unreachable, reset).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The TLS handshake failed (untrusted or invalid certificate, not TLS at all, ...).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// Connected, but the answer was not valid HTTP or broke off.
    #[error("invalid answer: {0}")]
    Protocol(String),
    /// The request could not be built (an invalid header name or value from the caller).
    #[error("could not build the request: {0}")]
    Request(String),
    /// The HTTP client could not be created.
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
}

impl OutboundError {
    /// A stable snake_case name for the kind of failure, for API error codes and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "invalid_url",
            Self::ForbiddenAddress { .. } => "forbidden_url",
            Self::Unresolvable(_) => "unresolvable_url",
            Self::Timeout => "timeout",
            Self::Connect(_) => "connect_failed",
            Self::Tls(_) => "tls_failed",
            Self::Protocol(_) => "bad_response",
            Self::Request(_) => "invalid_request",
            Self::Setup(_) => "client_setup",
        }
    }

    /// Sorts a reqwest failure into a kind. The guard's own refusal travels up from the
    /// resolver as an `OutboundError` inside reqwest's error chain and comes back out unchanged.
    /// `https` tells a TLS failure from a TCP one: both are connect errors to reqwest.
    pub(super) fn from_reqwest(err: reqwest::Error, https: bool) -> Self {
        let err = err.without_url();
        if let Some(own) = chain(&err).find_map(|e| e.downcast_ref::<OutboundError>()) {
            return own.clone();
        }
        if err.is_timeout() {
            return Self::Timeout;
        }
        let detail = describe(&err);
        if err.is_builder() {
            return Self::Request(detail);
        }
        if err.is_connect() {
            // tokio-rustls reports every TLS failure as an io::Error of kind InvalidData (and a
            // peer hanging up mid-handshake as UnexpectedEof), which reqwest wraps in another
            // io::Error; a TCP connect failure is never of these kinds.
            let tls_failure = chain(&err).any(|e| is_tls_io_error(e, 0));
            return if https && tls_failure {
                Self::Tls(detail)
            } else {
                Self::Connect(detail)
            };
        }
        Self::Protocol(detail)
    }
}

/// True when `err` is an io::Error of the kinds tokio-rustls gives TLS failures, directly or
/// inside nested io::Errors (whose `source()` skips the wrapped error: `get_ref()` reaches it).
fn is_tls_io_error(err: &(dyn StdError + 'static), depth: usize) -> bool {
    let Some(io) = err.downcast_ref::<io::Error>() else {
        return false;
    };
    matches!(
        io.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    ) || (depth < 4
        && io
            .get_ref()
            .is_some_and(|inner| is_tls_io_error(inner, depth + 1)))
}

/// `err` and every error below it.
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The causes below a reqwest error, joined with ": " ("client error (Connect): tcp connect
/// error: Connection refused (os error 111)"); reqwest's own top line says only "error sending
/// request" and is used alone when there is nothing below it.
pub(super) fn describe(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in chain(err).skip(1) {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_messages_name_host_and_address() {
        let refused = OutboundError::ForbiddenAddress {
            host: "metadata.internal".into(),
            address: "169.254.169.254".parse().expect("ip"),
        };
        assert_eq!(refused.code(), "forbidden_url");
        let text = refused.to_string();
        assert!(
            text.contains("metadata.internal") && text.contains("169.254.169.254"),
            "{text}"
        );
        assert_eq!(OutboundError::InvalidUrl("x".into()).code(), "invalid_url");
        assert_eq!(
            OutboundError::Unresolvable("h".into()).code(),
            "unresolvable_url"
        );
        assert_eq!(OutboundError::Timeout.code(), "timeout");
        assert_eq!(OutboundError::Connect("x".into()).code(), "connect_failed");
        assert_eq!(OutboundError::Tls("x".into()).code(), "tls_failed");
    }
}
