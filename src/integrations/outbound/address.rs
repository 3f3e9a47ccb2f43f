//! Which IP addresses an outgoing call may reach: the range check behind the SSRF guard.
//!
//! Written on `std::net` types by hand because `IpAddr::is_global()` is unstable, and because the
//! guard needs more than it: IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64,
//! 6to4) are judged by the IPv4 address inside them, so `[::ffff:127.0.0.1]` is loopback too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// True when `ip` is not a public unicast address: loopback, private, shared (CGNAT),
/// link-local, multicast, broadcast, unspecified, documentation, benchmarking or reserved, or an
/// IPv6 address embedding such an IPv4 address. Outgoing calls refuse these unless the address is
/// inside one of `integrations.allowed_networks` (see [`Policy`]).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

/// `ip` inside `net/prefix` (`net` given as four octets).
fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// `ip` inside `net/prefix`.
fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    // (network, prefix), from RFC 6890 and the IANA IPv4 special-purpose address registry.
    const RANGES: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),     // "this network", 0.0.0.0 included (reaches the host itself)
        ([10, 0, 0, 0], 8),    // private
        ([100, 64, 0, 0], 10), // shared address space (carrier-grade NAT)
        ([127, 0, 0, 0], 8),   // loopback
        ([169, 254, 0, 0], 16), // link-local (cloud metadata services live here)
        ([172, 16, 0, 0], 12), // private
        ([192, 0, 0, 0], 24),  // IETF protocol assignments
        ([192, 0, 2, 0], 24),  // documentation (TEST-NET-1)
        ([192, 168, 0, 0], 16), // private
        ([198, 18, 0, 0], 15), // benchmarking
        ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
        ([203, 0, 113, 0], 24), // documentation (TEST-NET-3)
        ([224, 0, 0, 0], 4),   // multicast
        ([240, 0, 0, 0], 4),   // reserved, 255.255.255.255 (broadcast) included
    ];
    RANGES.iter().any(|&(net, prefix)| in_v4(ip, net, prefix))
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_forbidden_v4(v4);
    }
    // Only 2000::/3 is global unicast. Outside it: unspecified, loopback, discard-only
    // (100::/64), segment routing SIDs (5f00::/16), unique local (fc00::/7), link-local
    // (fe80::/10), site-local (fec0::/10), multicast (ff00::/8) and unassigned space.
    if !in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return true;
    }
    const RANGES: &[(Ipv6Addr, u32)] = &[
        // IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
        (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),     // documentation (RFC 9637)
    ];
    RANGES.iter().any(|&(net, prefix)| in_v6(ip, net, prefix))
}

/// The IPv4 address an IPv6 address stands for, when it is one of the forms that carry one:
/// IPv4-mapped `::ffff:a.b.c.d` (a dual-stack socket connects to a.b.c.d itself),
/// IPv4-compatible `::a.b.c.d` (deprecated; `::` and `::1` excluded, they are IPv6's own
/// unspecified and loopback), NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::/48`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let low = Ipv4Addr::from(u128::from(ip) as u32);
    let [s0, s1, s2, s3, s4, s5, _, _] = ip.segments();
    match [s0, s1, s2, s3, s4, s5] {
        [0, 0, 0, 0, 0, 0xffff] => Some(low),
        [0, 0, 0, 0, 0, 0] if u128::from(ip) > 1 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    }
}

/// The guard's decision: the range check plus the networks an operator opened on purpose.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allowed: Vec<IpNet>,
}

impl Policy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// True when an outgoing call may connect to `ip`. An allowed network covers an address
    /// written as itself or as its IPv4-mapped IPv6 form (the same socket address on Linux);
    /// NAT64 and 6to4 forms are not the same host, so they need their own entry.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if !is_forbidden(ip) {
            return true;
        }
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|net| net.contains(&ip) || mapped.is_some_and(|v4| net.contains(&v4)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn internal_and_special_addresses_are_forbidden() {
        let forbidden = [
            // IPv4
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6
            "::",
            "::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
            "5f00::1",
            "64:ff9b:1::a00:1",
            "fbff::1",
            "ff::1",
            // IPv6 forms carrying a forbidden IPv4 address
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::192.168.0.1",
            "2002:7f00:1::1",
            "2002:a00:1::",
        ];
        for text in forbidden {
            assert!(is_forbidden(ip(text)), "{text} should be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_not_forbidden() {
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.167.255.255",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:200::1",
            "3001::1",
            // IPv6 forms carrying a public IPv4 address
            "::ffff:1.1.1.1",
            "::8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ];
        for text in public {
            assert!(!is_forbidden(ip(text)), "{text} should be allowed");
        }
    }

    #[test]
    fn allowed_networks_open_forbidden_addresses_and_nothing_else() {
        let nets = vec![
            "127.0.0.1/32".parse().expect("net"),
            "10.1.0.0/16".parse().expect("net"),
            "fd00::/64".parse().expect("net"),
        ];
        let policy = Policy::new(nets);
        for text in [
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "fd00::5",
            "8.8.8.8",
        ] {
            assert!(policy.permits(ip(text)), "{text} should be permitted");
        }
        for text in [
            "127.0.0.2",
            "::1",
            "10.2.0.1",
            "fd00:0:0:1::5",
            "169.254.169.254",
            // NAT64 and 6to4 reach other hosts: the IPv4 entry does not cover them
            "64:ff9b::127.0.0.1",
            "2002:7f00:1::1",
        ] {
            assert!(!policy.permits(ip(text)), "{text} should be refused");
        }
        assert!(!Policy::default().permits(ip("127.0.0.1")));
        assert!(Policy::default().permits(ip("1.1.1.1")));
    }
}
