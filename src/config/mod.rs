//! Typed configuration, read once at start-up from the environment and `.env`.
//!
//! Nothing else in the crate reads `std::env`. A missing or unsafe value stops
//! start-up with one line naming the variable.
//!
//! - `choices`: the settings that name one of a fixed set (environment, email
//!   provider, SMTP TLS, storage backend, log format, token algorithm);
//! - `load`: [`Config::from_map`], every variable parsed with its default and the
//!   rules between variables;
//! - `networks`: the trusted-proxy networks and their parser;
//! - `keys`, `production`, `vars`: keys and rotation, what production refuses,
//!   and the variable map with its errors.

mod choices;
mod keys;
mod load;
mod networks;
mod production;
#[cfg(test)]
mod tests;
mod vars;

use std::{net::SocketAddr, time::Duration};

use ipnet::IpNet;

pub use choices::{EmailProvider, Environment, JwtAlgorithm, LogFormat, SmtpTls, StorageBackend};
pub use networks::{DEFAULT_TRUSTED_PROXIES, parse_networks};
pub use vars::{ConfigError, Secret};

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

/// Tokio's request worker threads when `TOKIO_WORKER_THREADS` is not set: one
/// per core, less one when PostgreSQL runs on this machine (`database_url`
/// names a loopback address or a socket, or is unset: the embedded cluster).
/// Its backends then need a core of their own: with two workers on 2 cores the
/// workers, PostgreSQL and each other's wake-ups took turns on both, and one
/// worker served ~1.4× the list requests (bench/ratio.sh, README "Benchmarks").
pub fn default_worker_threads(database_url: Option<&str>, cores: usize) -> usize {
    if database_url.is_none_or(crate::db::is_local_database) {
        cores.saturating_sub(1).max(1)
    } else {
        cores.max(1)
    }
}

/// The worker count for the runtime, read before it (and the rest of the
/// configuration) exists, `.env` included; `None` when `TOKIO_WORKER_THREADS`
/// is set, which Tokio reads itself.
pub fn worker_threads_from_env() -> Option<usize> {
    let _ = dotenvy::dotenv();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.trim().is_empty());
    Some(default_worker_threads(url.as_deref(), cores))
}

impl Config {
    /// Reads `.env` (if present) and the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_map(std::env::vars().collect())
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}
