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
            let ips = screen(&policy, &host, lookup(&host).await?)?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The addresses of `host` the policy permits, in order; `ForbiddenAddress` naming the first
/// refused one when none is permitted. A name with both kinds still works (the internal
/// addresses are left out): the save-time check is the strict one.
fn screen(policy: &Policy, host: &str, ips: Vec<IpAddr>) -> Result<Vec<IpAddr>, OutboundError> {
    let (permitted, refused): (Vec<IpAddr>, Vec<IpAddr>) =
        ips.into_iter().partition(|ip| policy.permits(*ip));
    if let Some(&address) = refused.first() {
        if permitted.is_empty() {
            return Err(OutboundError::ForbiddenAddress {
                host: host.to_owned(),
                address,
            });
        }
        tracing::debug!(%host, ?refused, "outgoing call: internal addresses left out");
    }
    Ok(permitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().expect("ip")).collect()
    }

    #[test]
    fn screen_keeps_permitted_addresses_and_names_the_first_refused_one() {
        let policy = Policy::default();
        assert_eq!(
            screen(
                &policy,
                "h",
                ips(&["10.0.0.1", "1.1.1.1", "::1", "2606:4700::1"])
            ),
            Ok(ips(&["1.1.1.1", "2606:4700::1"]))
        );
        assert_eq!(
            screen(&policy, "h", ips(&["::1", "127.0.0.1"])),
            Err(OutboundError::ForbiddenAddress {
                host: "h".into(),
                address: "::1".parse().expect("ip"),
            })
        );
        let open = Policy::new(vec!["127.0.0.1/32".parse().expect("net")]);
        assert_eq!(
            screen(&open, "localhost", ips(&["::1", "127.0.0.1"])),
            Ok(ips(&["127.0.0.1"]))
        );
    }

    #[tokio::test]
    async fn lookup_answers_ip_strings_without_dns_and_fails_on_unknown_names() {
        assert_eq!(lookup("192.0.2.7").await, Ok(ips(&["192.0.2.7"])));
        assert_eq!(
            lookup("does-not-exist.invalid").await,
            Err(OutboundError::Unresolvable("does-not-exist.invalid".into()))
        );
    }
}
