//! The one HTTP client for URLs a tenant supplies (webhook endpoints, later
//! SAML metadata): it must not become a way into our own network (SSRF).
//!
//! Decisions:
//! - The host is resolved by us: a URL is refused when any address it resolves
//!   to is loopback, private (RFC 1918, ULA), link-local, CGNAT, unspecified,
//!   multicast, documentation/benchmark space or a cloud metadata address,
//!   unless the policy allows private targets (`WEBHOOK_ALLOW_PRIVATE`, tests).
//! - The connection uses only the addresses our resolver returned and checked
//!   (a custom reqwest resolver), so a DNS answer cannot change between the
//!   check and the connect. IP literals, which skip the resolver, are checked
//!   before sending. The check runs at every request, not only when the URL
//!   was saved: DNS can change.
//! - No redirects, no proxy from the environment, a 10 s timeout, and at most
//!   64 KiB of the response body is read.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use url::Url;

/// The whole request, connect to last byte read.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a response body read at most; the rest is never read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Which targets a tenant-supplied URL may name.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboundPolicy {
    /// Accept loopback, private and link-local targets (tests only).
    pub allow_private: bool,
    /// Refuse `http://` (production).
    pub https_only: bool,
}

/// Why a URL was refused or a request failed; the text is safe to show the tenant.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Refused(String),
    #[error("request failed: {0}")]
    Request(String),
}

/// Whether `ip` is an ordinary public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address carried in IPv6 (mapped, compatible, NAT64) is judged as IPv4.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return is_public_v4(Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || s[0..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
                || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x2002) // 6to4: embeds any IPv4 address
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, incl. the metadata address 169.254.169.254
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || ip.is_multicast()
        || a >= 240) // reserved and broadcast
}

impl OutboundPolicy {
    /// Parses and checks `url` and every address its host resolves to now.
    pub async fn check(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = Url::parse(url).map_err(|_| OutboundError::Refused("is not a valid absolute URL".into()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if !self.https_only => {}
            "http" => return Err(OutboundError::Refused("must be an https URL in production".into())),
            _ => return Err(OutboundError::Refused("must be an http or https URL".into())),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(OutboundError::Refused("must not carry credentials".into()));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| OutboundError::Refused("must name a host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| OutboundError::Refused(format!("host `{host}` does not resolve")))?
            .collect();
        if addrs.is_empty() {
            return Err(OutboundError::Refused(format!("host `{host}` does not resolve")));
        }
        if !self.allow_private
            && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
        {
            return Err(OutboundError::Refused(format!(
                "resolves to {}, a loopback, private, link-local or metadata address, which is not allowed",
                bad.ip()
            )));
        }
        Ok(parsed)
    }
}

/// Resolves names itself and hands reqwest only the addresses it allows, so
/// the connection is pinned to checked addresses.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    format!("`{}` resolves to no allowed address", name.as_str()).into();
                return Err(err);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What came back from a request.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub latency: Duration,
}

/// The SSRF-safe client (cheap to clone).
#[derive(Clone)]
pub struct OutboundClient {
    policy: OutboundPolicy,
    client: reqwest::Client,
}

impl OutboundClient {
    pub fn new(policy: OutboundPolicy) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private,
            }))
            .user_agent("tenantry-webhooks/1")
            .build()
            .expect("the outbound HTTP client builds");
        Self { policy, client }
    }

    pub fn policy(&self) -> OutboundPolicy {
        self.policy
    }

    /// POSTs `body` as JSON with `headers`; any status is a response (the
    /// caller decides what success is), reading at most [`MAX_BODY_BYTES`].
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<OutboundResponse, OutboundError> {
        let url = self.policy.check(url).await?;
        let started = Instant::now();
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = request
            .body(body)
            .send()
            .await
            .map_err(|e| OutboundError::Request(describe(e)))?;
        let status = response.status().as_u16();
        let mut read = 0usize;
        while read < MAX_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(OutboundResponse {
            status,
            latency: started.elapsed(),
        })
    }
}

/// A short reason without the URL (which may carry a tenant's token in its query).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        e.without_url().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for s in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip(s)), "{s} must be allowed");
        }
    }

    #[tokio::test]
    async fn urls_to_internal_targets_are_refused() {
        let policy = OutboundPolicy::default();
        for url in [
            "http://127.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/",
            "http://localhost:9/",
            "http://10.0.0.8/",
        ] {
            assert!(policy.check(url).await.is_err(), "{url} must be refused");
        }
        let https_only = OutboundPolicy {
            allow_private: true,
            https_only: true,
        };
        assert!(https_only.check("http://127.0.0.1/").await.is_err());
        assert!(https_only.check("https://127.0.0.1/").await.is_ok());
        assert!(policy.check("ftp://example.com/").await.is_err());
    }
}
