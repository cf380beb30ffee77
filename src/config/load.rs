//! [`Config::from_map`]: every variable parsed with its default, and the rules
//! between variables (a provider that needs a host, production's refusals first).

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use super::{
    Config, EmailProvider, Environment, JwtAlgorithm, LogFormat, Retention, Secret, SmtpTls, StorageBackend, keys,
    networks::{DEFAULT_TRUSTED_PROXIES, parse_networks},
    production,
    vars::{ConfigError, Vars},
};

impl Config {
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
