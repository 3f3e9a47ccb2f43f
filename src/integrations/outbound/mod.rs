//! The guarded HTTP client for every call confab makes to another server (outgoing webhooks now,
//! Web Push and link previews later).
//!
//! A URL someone typed into confab must not become a way to reach the server's own network
//! (SSRF): the cloud metadata service at 169.254.169.254, an admin port on 127.0.0.1, a database
//! on 10.0.0.5. So every call goes through [`Outbound`], which
//! - takes only `http` and `https` URLs without credentials ([`Outbound::validate_url`]);
//! - checks the address it actually connects to, at connect time, in its own DNS resolver
//!   (`resolver.rs`), so a name that later resolves somewhere else (DNS rebinding) is caught,
//!   and checks IP-literal hosts, which never reach a resolver, before sending;
//! - refuses internal addresses ([`is_forbidden`]) unless `integrations.allowed_networks` opens
//!   them;
//! - never follows redirects (a 3xx is an answer like any other), never uses a proxy from the
//!   environment (it would connect for us, past the guard), and reads at most 64 KiB of answer.

mod address;
mod error;
mod resolver;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::header::CONTENT_TYPE;
use url::{Host, Url};

pub use address::{is_forbidden, Policy};
pub use error::OutboundError;
use resolver::GuardedResolver;

/// The longest URL accepted, before and after normalisation.
pub const MAX_URL_LEN: usize = 2048;

/// The most of an answer's body that is kept; the rest is not read.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// The longest a TCP (and TLS) connect may take, when the total timeout is longer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `User-Agent` of every outgoing call.
const USER_AGENT: &str = concat!("confab/", env!("CARGO_PKG_VERSION"));

/// The answer to an outgoing call: any status, 3xx included (redirects are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    /// At most [`MAX_RESPONSE_BODY`] bytes of the body.
    pub body: Vec<u8>,
    /// True when the body was longer than [`MAX_RESPONSE_BODY`] and was cut off.
    pub truncated: bool,
    pub content_type: Option<String>,
    /// `Retry-After` in seconds, when the answer gave it as a number.
    pub retry_after_secs: Option<u64>,
}

/// The HTTP client with the SSRF guard. Cheap to clone (the connection pool and the policy are
/// shared), so one is built at startup and handed to whoever calls out.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<Policy>,
    timeout: Duration,
}

impl Outbound {
    /// A client that refuses internal addresses outside `allowed_networks` and gives each call
    /// `timeout` from connect to the end of the answer (`integrations.webhook_timeout`).
    pub fn new(allowed_networks: Vec<IpNet>, timeout: Duration) -> Result<Self, OutboundError> {
        let policy = Arc::new(Policy::new(allowed_networks));
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // A proxy from HTTP_PROXY/HTTPS_PROXY would make the connection for us, to an
            // address our resolver never sees.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .dns_resolver(Arc::new(GuardedResolver::new(Arc::clone(&policy))))
            .build()
            .map_err(|err| OutboundError::Setup(error::describe(&err)))?;
        Ok(Self {
            client,
            policy,
            timeout,
        })
    }

    /// The save-time syntax check: an absolute `http`/`https` URL with a host, without
    /// credentials, at most [`MAX_URL_LEN`] long. Addresses are not looked at here (see
    /// [`Outbound::check_destination`]).
    pub fn validate_url(&self, raw: &str) -> Result<Url, OutboundError> {
        if raw.len() > MAX_URL_LEN {
            return Err(too_long());
        }
        let url = Url::parse(raw).map_err(|err| OutboundError::InvalidUrl(err.to_string()))?;
        check_shape(&url)?;
        Ok(url)
    }

    /// The save-time address check: resolves the host and refuses the URL when ANY address is
    /// one the guard refuses (a name with one internal address is suspect as a whole), or when
    /// the name does not resolve. Calls check again at connect time.
    pub async fn check_destination(&self, url: &Url) -> Result<(), OutboundError> {
        check_shape(url)?;
        let domain = match url.host() {
            Some(Host::Domain(domain)) => domain,
            _ => return self.check_literal(url),
        };
        let ips = tokio::time::timeout(self.timeout, resolver::lookup(domain))
            .await
            .map_err(|_| OutboundError::Unresolvable(domain.to_owned()))??;
        match ips.into_iter().find(|ip| !self.policy.permits(*ip)) {
            Some(address) => Err(OutboundError::ForbiddenAddress {
                host: domain.to_owned(),
                address,
            }),
            None => Ok(()),
        }
    }

    /// POSTs `body` (JSON) with the given extra headers; the destination is checked at connect
    /// time. Any status is a response; an error means no complete answer arrived (or the guard
    /// refused the address). `Content-Type: application/json` is sent unless `headers` has one.
    pub async fn post_json(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<OutboundResponse, OutboundError> {
        check_shape(url)?;
        self.check_literal(url)?;
        let https = url.scheme() == "https";
        let mut request = self.client.post(url.clone()).body(body);
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(CONTENT_TYPE.as_str()))
        {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| OutboundError::from_reqwest(err, https))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let retry_after_secs = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok());
        let (body, truncated) = read_capped(&mut response)
            .await
            .map_err(|err| OutboundError::from_reqwest(err, https))?;
        Ok(OutboundResponse {
            status,
            body,
            truncated,
            content_type,
            retry_after_secs,
        })
    }

    /// An IP-literal host (`http://127.0.0.1/`, `http://[::1]/`; `url` has already turned
    /// `2130706433` or `0x7f.1` into `127.0.0.1`) is connected to without a lookup, so the
    /// resolver never sees it: it is checked here.
    fn check_literal(&self, url: &Url) -> Result<(), OutboundError> {
        let address = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.policy.permits(address) {
            return Ok(());
        }
        Err(OutboundError::ForbiddenAddress {
            host: url.host_str().unwrap_or_default().to_owned(),
            address,
        })
    }
}

/// Scheme, credentials, host and length of an already parsed URL.
fn check_shape(url: &Url) -> Result<(), OutboundError> {
    let invalid = |why: &str| Err(OutboundError::InvalidUrl(why.to_owned()));
    if !matches!(url.scheme(), "http" | "https") {
        return invalid(&format!(
            "the scheme must be http or https, not {}",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return invalid("credentials (user:password@) are not allowed in the URL");
    }
    if url.host().is_none() {
        return invalid("the URL has no host");
    }
    if url.as_str().len() > MAX_URL_LEN {
        return Err(too_long());
    }
    Ok(())
}

fn too_long() -> OutboundError {
    OutboundError::InvalidUrl(format!("longer than {MAX_URL_LEN} characters"))
}

/// The body, up to [`MAX_RESPONSE_BODY`] bytes, and whether more followed. Reading stops at the
/// cap: the rest is never buffered (the connection is closed instead of reused).
async fn read_capped(response: &mut reqwest::Response) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let expected = response.content_length().unwrap_or(0);
    let capacity =
        usize::try_from(expected).map_or(MAX_RESPONSE_BODY, |n| n.min(MAX_RESPONSE_BODY));
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}
