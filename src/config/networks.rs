//! The networks of our own proxies (`TRUSTED_PROXIES`): only they may tell us a
//! client's address.

use std::{net::IpAddr, str::FromStr};

use ipnet::IpNet;

/// The default `TRUSTED_PROXIES`: loopback and the private ranges (RFC 1918,
/// RFC 4193). Link-local is left out: no proxy of ours has such an address, and
/// fewer trusted addresses means fewer ways to be lied to.
pub const DEFAULT_TRUSTED_PROXIES: &str = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

/// Parses a comma-separated CIDR list; a bare address is a /32 (/128) network.
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            IpNet::from_str(s)
                .map(|n| n.trunc())
                .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a CIDR network or an IP address"))
        })
        .collect()
}
