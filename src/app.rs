//! Application state and its construction: everything handlers, jobs and the
//! tests share. Routes are assembled in `crate::router`, background tasks
//! started in `crate::jobs`.

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
    pub oidc: crate::oauth::oidc::OidcService,
    /// Email templates, provider, outbox worker status and SNS verification.
    pub email: Arc<crate::email::EmailService>,
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

/// The email webhook takes the service it needs, not the whole state.
impl FromRef<AppState> for Arc<crate::email::EmailService> {
    fn from_ref(state: &AppState) -> Self {
        state.email.clone()
    }
}

impl AppState {
    pub async fn new(config: Config, db: Db) -> anyhow::Result<Self> {
        let jwt = JwtKeys::new(&config);
        let secrets = secret_box(&config);
        // Parses and test-renders the email templates: a broken one stops start-up.
        let email = Arc::new(crate::email::EmailService::new(&config).await?);
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
            oidc: crate::oauth::oidc::OidcService::new(),
            auth_cache,
        })))
    }
}

/// The sealer of secrets at rest: the current ENCRYPTION_KEY seals, it and every
/// key of ENCRYPTION_KEYS_PREVIOUS open.
pub fn secret_box(config: &Config) -> SecretBox {
    config.encryption_keys_previous.iter().fold(
        SecretBox::new(&config.encryption_key_id, config.encryption_key.expose()),
        |b, (id, key)| b.with_old_key(id, key.expose()),
    )
}
