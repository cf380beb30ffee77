//! Which URLs may serve SNS signing certificates and subscription confirmations.

use url::Url;

/// Which URLs may serve certificates and subscription confirmations.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    extra_prefixes: Vec<Url>,
}

impl UrlPolicy {
    pub fn new(extra_prefixes: &[String]) -> anyhow::Result<Self> {
        let extra_prefixes = extra_prefixes
            .iter()
            .map(|p| Url::parse(p).map_err(|e| anyhow::anyhow!("SNS_CERT_URL_PREFIX_ALLOWLIST: `{p}`: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { extra_prefixes })
    }

    /// `https://sns.<region>.amazonaws.com[.cn]/…` on the default port, or under
    /// one of the configured prefixes (same scheme, host and port; path prefix).
    pub fn allows(&self, raw: &str) -> bool {
        let Ok(url) = Url::parse(raw) else {
            return false;
        };
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let aws = url.scheme() == "https" && url.port().is_none() && url.host_str().is_some_and(is_sns_host);
        aws || self.extra_prefixes.iter().any(|p| {
            url.scheme() == p.scheme()
                && url.host_str() == p.host_str()
                && url.port_or_known_default() == p.port_or_known_default()
                && url.path().starts_with(p.path())
        })
    }
}

/// `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`.
fn is_sns_host(host: &str) -> bool {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"));
    rest.and_then(|r| r.strip_prefix("sns.")).is_some_and(|region| {
        !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn only_sns_hosts_over_https_unless_allowlisted() {
        let p = UrlPolicy::default();
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.io/x.pem",
            "https://evil.io/sns.us-east-1.amazonaws.com/x.pem",
            "https://sqs.us-east-1.amazonaws.com/x.pem",
            "https://sns.amazonaws.com/x.pem",
            "https://sns.a.b.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://u:p@sns.us-east-1.amazonaws.com/x.pem",
            "http://127.0.0.1:9/x.pem",
            "not a url",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
        let p = UrlPolicy::new(&["http://127.0.0.1:9000/certs/".into()]).unwrap();
        assert!(p.allows("http://127.0.0.1:9000/certs/a.pem"));
        assert!(!p.allows("http://127.0.0.1:9001/certs/a.pem"));
        assert!(!p.allows("http://127.0.0.1:9000/other/a.pem"));
        assert!(!p.allows("https://127.0.0.1:9000/certs/a.pem"));
    }

    #[test]
    fn production_refuses_a_plain_http_certificate_prefix() {
        let vars = |prefix: &str| {
            [
                ("ENVIRONMENT", "production"),
                ("DATABASE_URL", "postgres://db.internal/tenantry"),
                ("SECRET_KEY", "0123456789abcdef0123456789abcdef-prod"),
                ("ENCRYPTION_KEY", "0123456789abcdef0123456789abcdef-enc"),
                ("EMAIL_PROVIDER", "smtp"),
                ("SMTP_HOST", "smtp.internal"),
                ("BASE_URL", "https://api.example.com"),
                ("SNS_CERT_URL_PREFIX_ALLOWLIST", prefix),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        let err = Config::from_map(vars("http://127.0.0.1:9000/")).unwrap_err();
        assert_eq!(err.var, "SNS_CERT_URL_PREFIX_ALLOWLIST");
        assert!(Config::from_map(vars("https://certs.internal.example/sns/")).is_ok());
    }
}
