//! Application state and assembly: everything `serve` and the tests share.

use std::{ops::Deref, sync::Arc};

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
    /// OpenID Connect relying party: HTTP client and per-issuer metadata/JWKS cache.
    pub oidc: crate::oauth::OidcService,
    /// Document bytes: local disk or S3.
    pub storage: crate::storage::Storage,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub async fn new(config: Config, db: Db) -> anyhow::Result<Self> {
        let jwt = JwtKeys::new(&config);
        let secrets = SecretBox::new(&config.encryption_key_id, config.encryption_key.expose());
        let storage = crate::storage::Storage::from_config(&config)?;
        Ok(Self(Arc::new(Inner { config, db, jwt, secrets, passwords: Passwords::default(), storage, oidc: crate::oauth::OidcService::new() })))
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
    let tasks = vec![tokio::spawn(crate::rbac::sweeper::run(state.clone(), rx))];
    Background { stop, tasks }
}
