//! Typed configuration, read once at start-up from the environment and `.env`.
//!
//! Nothing else in the crate reads `std::env`. A missing or unsafe value stops
//! start-up with one line naming the variable.

mod keys;
mod production;
mod vars;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    time::Duration,
};

use ipnet::IpNet;

use vars::Vars;
pub use vars::{ConfigError, Secret};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailProvider {
    Ses,
    Smtp,
    Log,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Tls,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageBackend {
    Local,
    S3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// HMAC algorithms accepted for our own access tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    /// `None`: use the embedded PostgreSQL cluster in `data_dir`.
    pub database_url: Option<Secret>,
    pub database_max_connections: u32,
    pub data_dir: String,
    pub secret_key: Secret,
    /// The signing key before the last rotation: still verifies tokens and signed URLs.
    pub secret_key_previous: Option<Secret>,
    /// Key for secrets at rest (IdP client secrets, OAuth tokens, TOTP seeds); derived
    /// from SECRET_KEY when ENCRYPTION_KEY is unset (development only).
    pub encryption_key: Secret,
    pub encryption_key_id: String,
    /// Earlier encryption keys by id: they still open what they sealed.
    pub encryption_keys_previous: Vec<(String, Secret)>,
    pub algorithm: JwtAlgorithm,
    pub access_token_expire_minutes: i64,
    pub refresh_token_expire_days: i64,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_region: String,
    pub aws_ses_from_email: String,
    pub aws_endpoint_url: Option<String>,
    pub ses_configuration_set: Option<String>,
    pub email_provider: EmailProvider,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    pub smtp_tls: SmtpTls,
    pub microsoft_client_id: Option<String>,
    pub microsoft_client_secret: Option<Secret>,
    pub microsoft_authority: String,
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<Secret>,
    pub google_issuer: String,
    pub oauth_redirect_allowlist: Vec<String>,
    pub app_name: String,
    pub base_url: String,
    pub frontend_url: String,
    pub super_admin_email: Option<String>,
    pub super_admin_password: Option<Secret>,
    pub redis_url: Option<Secret>,
    pub storage_backend: StorageBackend,
    pub storage_path: String,
    pub s3_bucket: Option<String>,
    pub max_failed_logins: i32,
    pub lockout_minutes: i64,
    /// Lockout window in seconds; LOCKOUT_SECONDS overrides LOCKOUT_MINUTES (tests).
    pub lockout_seconds: i64,
    pub bind_addr: SocketAddr,
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); traces are
    /// exported only when set, and no tracing layer is installed otherwise.
    pub otel_endpoint: Option<String>,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_upload_bytes: u64,
    pub hsts: bool,
    /// Read X-Forwarded-For (only behind a proxy you run; see `http::client_ip`).
    pub trust_proxy: bool,
    /// `TRUSTED_PROXIES`: the networks of our own proxies; only they may tell
    /// us a client's address, and their hops are skipped in X-Forwarded-For.
    pub trusted_proxies: Vec<IpNet>,
    /// How long an instance may reuse a resolved session (0 = ask PostgreSQL on
    /// every request); bounds how long another instance's revocation can lag.
    pub auth_cache_ttl: Duration,
    pub rate_limit_login_per_minute: u32,
    pub rate_limit_per_account_per_minute: u32,
    /// Units every authenticated principal may spend per minute (0 = no API limits).
    pub rate_limit_api_per_minute: u32,
    /// Units a whole tenant may spend per minute (0 = no API limits).
    pub rate_limit_tenant_per_minute: u32,
    /// Retention of `login_attempts`, `security_events` and dead outbox mail, in days.
    pub retention: Retention,
    pub email_worker_enabled: bool,
    pub email_max_attempts: i32,
    /// `WEBHOOK_ALLOW_PRIVATE`: webhook URLs may name loopback, private and
    /// link-local targets (tests and local development only).
    pub webhook_allow_private: bool,
    /// `WEBHOOK_RETRY_BASE_MS`: the first retry delay of a failed webhook
    /// delivery; later delays are fixed multiples of it (default 5 s ≈ 24 h in all).
    pub webhook_retry_base: Duration,
    /// How often `serve` runs the maintenance cleanup (zero: only on request).
    pub maintenance_interval: Duration,
    /// Extra URL prefixes accepted for SNS signing certificates and subscribe
    /// URLs besides `https://sns.<region>.amazonaws.com[.cn]/` (tests serve a
    /// certificate on loopback); must be https in production.
    pub sns_cert_url_prefix_allowlist: Vec<String>,
    /// SNS topics whose notifications the SES webhook accepts (empty: none).
    pub sns_topic_arn_allowlist: Vec<String>,
    /// Outside production: one line per unsafe default in use, printed by `serve`.
    pub unsafe_defaults: Vec<String>,
}

/// How long the maintenance job keeps what it prunes (whole days; the audit
/// log is never pruned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub login_attempts_days: u32,
    pub security_events_days: u32,
    pub dead_email_days: u32,
}

impl Config {
    /// Reads `.env` (if present) and the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_map(std::env::vars().collect())
    }

    /// Builds the configuration from a variable map (the environment in production,
    /// a literal map in tests).
    pub fn from_map(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Vars(vars);
        let environment = match v.get("ENVIRONMENT").as_deref().unwrap_or("development") {
            "development" | "dev" => Environment::Development,
            "test" => Environment::Test,
            "production" | "prod" => Environment::Production,
            other => return Err(v.bad("ENVIRONMENT", format!("unknown environment `{other}`"))),
        };
        let dev = environment != Environment::Production;

        if !dev {
            production::refuse_unsafe(&v)?;
        }
        let keys = keys::read(&v)?;

        let algorithm = match v.get("ALGORITHM").as_deref().unwrap_or("HS256") {
            "HS256" => JwtAlgorithm::HS256,
            "HS384" => JwtAlgorithm::HS384,
            "HS512" => JwtAlgorithm::HS512,
            other => {
                return Err(v.bad("ALGORITHM", format!("`{other}` is not one of HS256, HS384, HS512")));
            }
        };

        let email_provider = match v.get("EMAIL_PROVIDER").as_deref().unwrap_or("log") {
            "ses" => EmailProvider::Ses,
            "smtp" => EmailProvider::Smtp,
            "log" => EmailProvider::Log,
            other => return Err(v.bad("EMAIL_PROVIDER", format!("`{other}` is not one of ses, smtp, log"))),
        };
        let smtp_host = v.get("SMTP_HOST");
        if email_provider == EmailProvider::Smtp && smtp_host.is_none() {
            return Err(v.bad("SMTP_HOST", "is required when EMAIL_PROVIDER=smtp".into()));
        }
        let smtp_tls = match v.get("SMTP_TLS").as_deref().unwrap_or("starttls") {
            "starttls" | "true" => SmtpTls::StartTls,
            "tls" => SmtpTls::Tls,
            "none" | "false" => SmtpTls::None,
            other => return Err(v.bad("SMTP_TLS", format!("`{other}` is not one of starttls, tls, none"))),
        };
        let storage_backend = match v.get("STORAGE_BACKEND").as_deref().unwrap_or("local") {
            "local" => StorageBackend::Local,
            "s3" => StorageBackend::S3,
            other => return Err(v.bad("STORAGE_BACKEND", format!("`{other}` is not one of local, s3"))),
        };
        let s3_bucket = v.get("S3_BUCKET");
        if storage_backend == StorageBackend::S3 && s3_bucket.is_none() {
            return Err(v.bad("S3_BUCKET", "is required when STORAGE_BACKEND=s3".into()));
        }
        let log_format = match v.get("LOG_FORMAT").as_deref().unwrap_or("pretty") {
            "json" => LogFormat::Json,
            "pretty" | "text" => LogFormat::Pretty,
            other => return Err(v.bad("LOG_FORMAT", format!("`{other}` is not one of json, pretty"))),
        };
        let otel_endpoint = v.get("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(endpoint) = &otel_endpoint
            && !url::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(v.bad("OTEL_EXPORTER_OTLP_ENDPOINT", "must be an http(s) URL".into()));
        }

        let lockout_minutes: i64 = v.parse("LOCKOUT_MINUTES", 30)?;
        let super_admin_password = v.get("SUPER_ADMIN_PASSWORD").map(Secret::new);
        if !dev && super_admin_password.as_ref().is_some_and(|p| p.expose().len() < 12) {
            return Err(v.bad("SUPER_ADMIN_PASSWORD", "must be at least 12 characters".into()));
        }
        let bind_addr = v.get("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8000".into());
        let bind_addr = bind_addr
            .parse()
            .map_err(|e| v.bad("BIND_ADDR", format!("`{bind_addr}` is not host:port ({e})")))?;
        let base_url = v
            .get("BASE_URL")
            .unwrap_or_else(|| default_base_url(bind_addr))
            .trim_end_matches('/')
            .to_string();
        let max_failed_logins = v.parse("MAX_FAILED_LOGINS", 5)?;
        if max_failed_logins < 1 {
            return Err(v.bad("MAX_FAILED_LOGINS", "must be at least 1".into()));
        }

        let data_dir = v.get("TENANTRY_DATA_DIR").unwrap_or_else(|| ".data".into());

        let sns_cert_url_prefix_allowlist = v.list("SNS_CERT_URL_PREFIX_ALLOWLIST");
        if !dev && sns_cert_url_prefix_allowlist.iter().any(|p| !p.starts_with("https://")) {
            return Err(v.bad(
                "SNS_CERT_URL_PREFIX_ALLOWLIST",
                "entries must be https URLs in production".into(),
            ));
        }

        // The console is served by this binary, so email links land on it
        // unless a separate frontend is configured.
        let frontend_url = v
            .get("FRONTEND_URL")
            .unwrap_or_else(|| base_url.clone())
            .trim_end_matches('/')
            .to_string();
        let unsafe_defaults = if dev {
            production::unsafe_defaults(&v, &base_url, &frontend_url)
        } else {
            Vec::new()
        };
        let trusted_proxies = parse_networks(v.get("TRUSTED_PROXIES").as_deref().unwrap_or(DEFAULT_TRUSTED_PROXIES))
            .map_err(|e| v.bad("TRUSTED_PROXIES", e))?;

        Ok(Config {
            environment,
            database_url: v.get("DATABASE_URL").map(Secret::new),
            database_max_connections: v.parse("DATABASE_MAX_CONNECTIONS", 20)?,
            data_dir: data_dir.clone(),
            secret_key: keys.secret_key,
            secret_key_previous: keys.secret_key_previous,
            encryption_key: keys.encryption_key,
            encryption_key_id: keys.encryption_key_id,
            encryption_keys_previous: keys.encryption_keys_previous,
            algorithm,
            access_token_expire_minutes: v.parse("ACCESS_TOKEN_EXPIRE_MINUTES", 15)?,
            refresh_token_expire_days: v.parse("REFRESH_TOKEN_EXPIRE_DAYS", 30)?,
            aws_access_key_id: v.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key: v.get("AWS_SECRET_ACCESS_KEY").map(Secret::new),
            aws_region: v.get("AWS_REGION").unwrap_or_else(|| "eu-central-1".into()),
            aws_ses_from_email: v
                .get("AWS_SES_FROM_EMAIL")
                .unwrap_or_else(|| "no-reply@tenantry.local".into()),
            aws_endpoint_url: v.get("AWS_ENDPOINT_URL"),
            ses_configuration_set: v.get("SES_CONFIGURATION_SET"),
            email_provider,
            smtp_host,
            smtp_port: v.parse("SMTP_PORT", 587)?,
            smtp_username: v.get("SMTP_USERNAME"),
            smtp_password: v.get("SMTP_PASSWORD").map(Secret::new),
            smtp_tls,
            microsoft_client_id: v.get("MICROSOFT_CLIENT_ID"),
            microsoft_client_secret: v.get("MICROSOFT_CLIENT_SECRET").map(Secret::new),
            microsoft_authority: v
                .get("MICROSOFT_AUTHORITY")
                .unwrap_or_else(|| "https://login.microsoftonline.com".into())
                .trim_end_matches('/')
                .to_string(),
            google_client_id: v.get("GOOGLE_CLIENT_ID"),
            google_client_secret: v.get("GOOGLE_CLIENT_SECRET").map(Secret::new),
            google_issuer: v
                .get("GOOGLE_ISSUER")
                .unwrap_or_else(|| "https://accounts.google.com".into())
                .trim_end_matches('/')
                .to_string(),
            oauth_redirect_allowlist: v
                .get("OAUTH_REDIRECT_ALLOWLIST")
                .map(|s| {
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            app_name: v.get("APP_NAME").unwrap_or_else(|| "Tenantry".into()),
            base_url,
            frontend_url,
            super_admin_email: v.get("SUPER_ADMIN_EMAIL"),
            super_admin_password,
            redis_url: v.get("REDIS_URL").map(Secret::new),
            storage_backend,
            storage_path: v.get("STORAGE_PATH").unwrap_or_else(|| format!("{data_dir}/storage")),
            s3_bucket,
            max_failed_logins,
            lockout_minutes,
            lockout_seconds: v.parse("LOCKOUT_SECONDS", lockout_minutes * 60)?,
            bind_addr,
            log_format,
            otel_endpoint,
            request_timeout: Duration::from_secs(v.parse("REQUEST_TIMEOUT_SECONDS", 30)?),
            max_body_bytes: v.parse("MAX_BODY_BYTES", 1024 * 1024)?,
            max_upload_bytes: v.parse("MAX_UPLOAD_BYTES", 100 * 1024 * 1024)?,
            // On by default in production; HSTS=false still turns it off.
            hsts: v.parse("HSTS", !dev)?,
            trust_proxy: v.parse("TRUST_PROXY", false)?,
            trusted_proxies,
            auth_cache_ttl: Duration::from_millis(v.parse("AUTH_CACHE_TTL_MS", 2000)?),
            rate_limit_login_per_minute: v.parse("RATE_LIMIT_LOGIN_PER_MINUTE", 1000)?,
            rate_limit_per_account_per_minute: v.parse("RATE_LIMIT_ACCOUNT_PER_MINUTE", 10)?,
            rate_limit_api_per_minute: v.parse("RATE_LIMIT_API_PER_MINUTE", 600)?,
            rate_limit_tenant_per_minute: v.parse("RATE_LIMIT_TENANT_PER_MINUTE", 6000)?,
            retention: Retention {
                login_attempts_days: v.parse("RETENTION_LOGIN_ATTEMPTS_DAYS", 90)?,
                security_events_days: v.parse("RETENTION_SECURITY_EVENTS_DAYS", 365)?,
                dead_email_days: v.parse("RETENTION_DEAD_EMAIL_DAYS", 30)?,
            },
            email_worker_enabled: v.parse("EMAIL_WORKER", true)?,
            email_max_attempts: v.parse("EMAIL_MAX_ATTEMPTS", 8)?,
            webhook_allow_private: v.parse("WEBHOOK_ALLOW_PRIVATE", false)?,
            webhook_retry_base: Duration::from_millis(v.parse("WEBHOOK_RETRY_BASE_MS", 5000)?),
            maintenance_interval: Duration::from_secs(v.parse("MAINTENANCE_INTERVAL_SECS", 3600)?),
            sns_cert_url_prefix_allowlist,
            sns_topic_arn_allowlist: v.list("SNS_TOPIC_ARNS"),
            unsafe_defaults,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

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

/// Without `BASE_URL`, links (upload URLs, token issuer) point at the address the
/// server listens on, so a server started on another port still hands out working URLs.
fn default_base_url(bind_addr: SocketAddr) -> String {
    let host = match bind_addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", bind_addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn defaults_work_in_development() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.max_failed_logins, 5);
        assert_eq!(c.lockout_seconds, 30 * 60);
    }

    #[test]
    fn base_url_follows_bind_addr_unless_set() {
        assert_eq!(
            cfg(&[("BIND_ADDR", "127.0.0.1:8091")]).unwrap().base_url,
            "http://127.0.0.1:8091"
        );
        assert_eq!(
            cfg(&[("BIND_ADDR", "0.0.0.0:9000")]).unwrap().base_url,
            "http://127.0.0.1:9000"
        );
        let c = cfg(&[("BIND_ADDR", "0.0.0.0:9000"), ("BASE_URL", "https://api.example.com/")]).unwrap();
        assert_eq!(c.base_url, "https://api.example.com");
        assert_eq!(
            c.frontend_url, "https://api.example.com",
            "FRONTEND_URL defaults to BASE_URL"
        );
    }

    #[test]
    fn storage_lives_under_the_data_dir_by_default() {
        assert_eq!(
            cfg(&[("TENANTRY_DATA_DIR", "/srv/t")]).unwrap().storage_path,
            "/srv/t/storage"
        );
        assert_eq!(cfg(&[]).unwrap().storage_path, ".data/storage");
    }

    #[test]
    fn production_requires_a_long_secret_key() {
        let db = ("DATABASE_URL", "postgres://db.internal/tenantry");
        let err = cfg(&[("ENVIRONMENT", "production"), db]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
        let err = cfg(&[("ENVIRONMENT", "production"), db, ("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.var, "SECRET_KEY");
    }

    #[test]
    fn rejects_asymmetric_or_none_algorithms() {
        assert_eq!(cfg(&[("ALGORITHM", "none")]).unwrap_err().var, "ALGORITHM");
        assert_eq!(cfg(&[("ALGORITHM", "RS256")]).unwrap_err().var, "ALGORITHM");
    }

    #[test]
    fn secrets_do_not_print() {
        let c = cfg(&[("SECRET_KEY", "0123456789abcdef0123456789abcdef-secret")]).unwrap();
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }
}
