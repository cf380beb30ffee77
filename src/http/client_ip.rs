//! The client's address behind reverse proxies (API.md, "Hardening rules").
//!
//! Each proxy appends the address it received the request from to
//! `X-Forwarded-For`, so only the entries to the right are written by hops we
//! trust; whatever the client sent itself sits to the left. The client is
//! therefore the right-most entry that is not one of `TRUSTED_PROXIES`.
//!
//! Decisions:
//! - The header is believed only with `TRUST_PROXY=true` *and* when the socket
//!   peer itself is a trusted proxy; anyone else talking to us directly is the client.
//! - Entries are parsed as IP addresses (a `:port` suffix, as some load balancers
//!   add, is accepted); anything unparsable is skipped, never passed on as text.
//! - When every hop is trusted (a client on the internal network), the left-most
//!   valid entry is the client: it is as far back as the chain of trusted hops
//!   reaches, and using the socket peer would put every internal client behind
//!   one proxy into the same rate-limit bucket.
//! - IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack listener
//!   reports) are compared as IPv4.

use std::{net::IpAddr, str::FromStr};

use ipnet::IpNet;

/// Which peers may tell us the client's address (`TRUST_PROXY`, `TRUSTED_PROXIES`).
/// Added to every request as an extension by the router.
#[derive(Clone, Debug, Default)]
pub struct ProxyPolicy {
    /// `TRUST_PROXY`: read `X-Forwarded-For` at all.
    pub enabled: bool,
    /// `TRUSTED_PROXIES`: the networks our own proxies live in.
    pub trusted: Vec<IpNet>,
}

impl ProxyPolicy {
    /// Whether `ip` is one of our proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer` unless proxies are trusted and `peer` is
    /// one; then the right-most untrusted `X-Forwarded-For` entry (see the
    /// module docs). `forwarded` are the header's values in order.
    pub fn client_ip<'a>(&self, peer: Option<IpAddr>, forwarded: impl IntoIterator<Item = &'a str>) -> Option<IpAddr> {
        let peer = peer.map(|p| p.to_canonical());
        if !self.enabled || !peer.is_some_and(|p| self.is_trusted(p)) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded
            .into_iter()
            .flat_map(|value| value.split(','))
            .filter_map(parse_hop)
            .collect();
        hops.iter()
            .rev()
            .find(|ip| !self.is_trusted(**ip))
            .or(hops.first())
            .copied()
            .or(peer)
    }
}

/// One `X-Forwarded-For` entry as an address: `1.2.3.4`, `1.2.3.4:80`, `::1`,
/// `[::1]:80`. `None` for anything else.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    IpAddr::from_str(raw)
        .or_else(|_| std::net::SocketAddr::from_str(raw).map(|s| s.ip()))
        .or_else(|_| IpAddr::from_str(raw.trim_start_matches('[').trim_end_matches(']')))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_TRUSTED_PROXIES, parse_networks};

    fn policy() -> ProxyPolicy {
        ProxyPolicy {
            enabled: true,
            trusted: parse_networks(DEFAULT_TRUSTED_PROXIES).unwrap(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(p: &ProxyPolicy, peer: &str, xff: &[&str]) -> Option<String> {
        p.client_ip(Some(ip(peer)), xff.iter().copied()).map(|i| i.to_string())
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let p = policy();
        // nginx appended the real address to what the client claimed.
        assert_eq!(
            client(&p, "10.0.0.2", &["1.1.1.1, 203.0.113.7"]).as_deref(),
            Some("203.0.113.7")
        );
        // Two proxies of ours after the client.
        assert_eq!(
            client(&p, "127.0.0.1", &["6.6.6.6, 203.0.113.7, 10.1.2.3, 192.168.0.9"]).as_deref(),
            Some("203.0.113.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client(&p, "10.0.0.2", &["6.6.6.6", "203.0.113.8"]).as_deref(),
            Some("203.0.113.8")
        );
        assert_eq!(
            client(&p, "10.0.0.2", &["2001:db8::1, [2001:db8::2]:443"]).as_deref(),
            Some("2001:db8::2")
        );
        assert_eq!(
            client(&p, "10.0.0.2", &["198.51.100.4:51234"]).as_deref(),
            Some("198.51.100.4")
        );
    }

    #[test]
    fn junk_entries_are_skipped() {
        let p = policy();
        assert_eq!(
            client(
                &p,
                "10.0.0.2",
                &["203.0.113.7, <script>alert(1)</script>, not-an-ip, , 999.1.1.1"]
            )
            .as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            client(&p, "10.0.0.2", &["unknown", "", "fe80::1%eth0"]).as_deref(),
            Some("10.0.0.2")
        );
    }

    #[test]
    fn an_all_trusted_chain_gives_its_left_most_hop_and_no_header_the_peer() {
        let p = policy();
        assert_eq!(
            client(&p, "10.0.0.2", &["192.168.1.5, 10.0.0.9"]).as_deref(),
            Some("192.168.1.5")
        );
        assert_eq!(client(&p, "10.0.0.2", &[]).as_deref(), Some("10.0.0.2"));
        assert_eq!(client(&p, "::ffff:10.0.0.2", &[]).as_deref(), Some("10.0.0.2"));
    }

    #[test]
    fn the_header_is_ignored_unless_enabled_and_the_peer_is_a_proxy() {
        let p = policy();
        assert_eq!(client(&p, "203.0.113.7", &["1.1.1.1"]).as_deref(), Some("203.0.113.7"));
        let off = ProxyPolicy {
            enabled: false,
            ..policy()
        };
        assert_eq!(client(&off, "127.0.0.1", &["1.1.1.1"]).as_deref(), Some("127.0.0.1"));
        assert_eq!(p.client_ip(None, ["1.1.1.1"]), None);
        // IPv4-mapped peers count as their IPv4 address.
        assert_eq!(
            client(&p, "::ffff:127.0.0.1", &["198.51.100.1"]).as_deref(),
            Some("198.51.100.1")
        );
    }

    #[test]
    fn networks_parse_strictly() {
        let nets = parse_networks(" 10.0.0.0/8, ::1/128 ,192.0.2.7,,2001:db8::/32").unwrap();
        assert_eq!(nets.len(), 4);
        assert!(nets[2].contains(&ip("192.0.2.7")) && !nets[2].contains(&ip("192.0.2.8")));
        // Host bits are dropped: 10.1.2.3/8 is 10.0.0.0/8.
        assert!(parse_networks("10.1.2.3/8").unwrap()[0].contains(&ip("10.200.0.1")));
        for bad in ["10.0.0.0/33", "example.com", "10.0.0/8", "::1/129"] {
            assert!(parse_networks(bad).is_err(), "{bad}");
        }
        let defaults = parse_networks(DEFAULT_TRUSTED_PROXIES).unwrap();
        let p = ProxyPolicy {
            enabled: true,
            trusted: defaults,
        };
        for t in ["127.0.0.1", "::1", "10.9.9.9", "172.31.0.1", "192.168.5.5", "fd00::1"] {
            assert!(p.is_trusted(ip(t)), "{t}");
        }
        for u in ["172.32.0.1", "8.8.8.8", "2001:db8::1", "169.254.169.254", "fe80::1"] {
            assert!(!p.is_trusted(ip(u)), "{u}");
        }
    }
}
