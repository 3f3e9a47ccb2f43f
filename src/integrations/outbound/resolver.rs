//! Name resolution with the guard applied: the connect-time half of the SSRF check.
//!
//! reqwest connects only to the addresses its resolver returns, so checking them here, in the
//! same lookup the connection uses, closes the DNS-rebinding gap a save-time check leaves (a name
//! that resolved to a public address when the webhook was saved and to 127.0.0.1 now).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::Policy;
use super::error::OutboundError;

/// Every address `host` resolves to, in the resolver's order, without duplicates.
/// A failed lookup and an empty answer are both `Unresolvable`.
pub(super) async fn lookup(host: &str) -> Result<Vec<IpAddr>, OutboundError> {
    let unresolvable = || OutboundError::Unresolvable(host.to_owned());
    // Port 0: only the addresses matter; reqwest puts the URL's port on them.
    let found = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| unresolvable())?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for addr in found {
        if !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
    }
    if ips.is_empty() {
        return Err(unresolvable());
    }
    Ok(ips)
}

/// The `reqwest` resolver: tokio's resolver (the system's, via `getaddrinfo` on a blocking
/// thread), minus every address the policy refuses. When nothing is left, the lookup fails with
/// `ForbiddenAddress` naming the first refused address, which `OutboundError::from_reqwest`
/// finds again in reqwest's error chain.
#[derive(Debug)]
pub(super) struct GuardedResolver {
    policy: Arc<Policy>,
}

impl GuardedResolver {
    pub(super) fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = lookup(&host).await?;
            let (permitted, refused): (Vec<IpAddr>, Vec<IpAddr>) =
                ips.into_iter().partition(|ip| policy.permits(*ip));
            if let Some(&address) = refused.first() {
                if permitted.is_empty() {
                    return Err(OutboundError::ForbiddenAddress { host, address }.into());
                }
                tracing::debug!(%host, ?refused, "outgoing call: internal addresses left out");
            }
            let addrs: Addrs = Box::new(permitted.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
