//! Application state and assembly: everything `serve` and the tests share.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;

use crate::{
    auth::{jwt::JwtKeys, password::Passwords},
    config::Config,
    crypto::SecretBox,
    db::Db,
};

/// Cheap to clone; handed to every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub jwt: JwtKeys,
    /// Encrypts secrets at rest (IdP client secrets, OAuth tokens, TOTP seeds).
    pub secrets: SecretBox,
    /// Argon2id hashing off the runtime, bounded to the cores.
    pub passwords: Passwords,
    /// Sign-in rate limits: in memory, or shared through Redis when REDIS_URL is set.
    pub limiter: crate::auth::ratelimit::RateLimiter,
    /// OpenID Connect relying party: HTTP client and per-issuer metadata/JWKS cache.
    pub oidc: crate::oauth::OidcService,
    /// Email templates, provider, outbox worker status and SNS verification.
    pub email: crate::email::EmailService,
    /// Document bytes: local disk or S3.
    pub storage: crate::storage::Storage,
    /// Resolved sessions for a couple of seconds (see `auth::cache`).
    pub auth_cache: crate::auth::cache::AuthCache,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Handlers that need only the database take `State<Db>` (e.g. readiness).
impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl AppState {
    pub async fn new(config: Config, db: Db) -> anyhow::Result<Self> {
        let jwt = JwtKeys::new(&config);
        let secrets = SecretBox::new(&config.encryption_key_id, config.encryption_key.expose());
        // Parses and test-renders the email templates: a broken one stops start-up.
        let email = crate::email::EmailService::new(&config).await?;
        let storage = crate::storage::Storage::from_config(&config)?;
        let limiter = crate::auth::ratelimit::RateLimiter::new(&config)?;
        let auth_cache = crate::auth::cache::AuthCache::new(config.auth_cache_ttl);
        Ok(Self(Arc::new(Inner {
            config,
            db,
            jwt,
            secrets,
            passwords: Passwords::default(),
            limiter,
            email,
            storage,
            oidc: crate::oauth::OidcService::new(),
            auth_cache,
        })))
    }
}

/// Background tasks of `serve` (outbox worker, sweepers); stopped on shutdown.
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the background tasks; each watches the stop channel.
pub fn spawn_background(state: &AppState) -> Background {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    if state.config.email_worker_enabled {
        tasks.push(tokio::spawn(crate::email::worker::run(state.clone(), rx.clone())));
    }
    tasks.push(tokio::spawn(crate::rbac::sweeper::run(state.clone(), rx.clone())));
    let interval = state.config.maintenance_interval;
    if !interval.is_zero() {
        tasks.push(tokio::spawn(crate::admin::maintenance::run(
            state.clone(),
            interval,
            rx.clone(),
        )));
    }
    drop(rx);
    Background { stop, tasks }
}
