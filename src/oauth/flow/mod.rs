//! The public sign-in flow: `GET /api/v1/auth/oauth/{provider}/login/{tenant_slug}`
//! starts an authorization-code flow (state, nonce, PKCE), and
//! `POST /api/v1/auth/oauth/{provider}/callback/{tenant_slug}` finishes it with
//! our own tokens.
//!
//! - [`start`]: the login endpoint and [`begin`] (shared with the console's test sign-in);
//! - [`callback`]: the callback endpoint, the sign-in and the record of each attempt;
//! - here: what both ends share — the tenant by slug (pre-authentication), the
//!   redirect URI, the issuer and the client credentials of a configuration.

pub mod callback;
pub mod start;

use time::Duration;
use uuid::Uuid;

pub use callback::oauth_callback;
pub(crate) use start::begin;
pub use start::oauth_login;

use super::{
    model::{IdpRow, Provider, secret_context},
    oidc::ClientCredentials,
};
use crate::{
    app::AppState,
    config::Config,
    db::TenantId,
    http::{ApiError, ApiResult},
};

/// How long a started sign-in may take.
pub(super) const STATE_TTL: Duration = Duration::minutes(10);
/// The frontend route providers return to unless an allow-listed URI is asked for.
const DEFAULT_CALLBACK_PATH: &str = "/auth/callback";

/// One answer for "no such tenant", "inactive tenant" and "provider not set up",
/// so the endpoint does not reveal which tenants exist.
pub(super) fn not_configured() -> ApiError {
    ApiError::NotFound("No identity provider of this kind is enabled for this tenant".into())
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRef {
    pub(crate) id: Uuid,
    pub(crate) is_active: bool,
}

impl TenantRef {
    /// The tenant's id as the key of its transactions: it came from the
    /// pre-authentication look-up by slug.
    pub(crate) fn tenant(&self) -> TenantId {
        TenantId::from_trusted(self.id)
    }
}

/// The tenant by slug, through the narrow pre-authentication function.
pub(crate) async fn tenant_by_slug(state: &AppState, slug: &str) -> ApiResult<Option<TenantRef>> {
    let mut tx = state.db.anonymous_tx().await?;
    Ok(sqlx::query_as("SELECT id, is_active FROM auth_tenant_by_slug($1)")
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?)
}

/// The redirect URI to register at the provider: FRONTEND_URL + `/auth/callback`.
pub fn callback_url(config: &Config) -> String {
    format!("{}{DEFAULT_CALLBACK_PATH}", config.frontend_url)
}

/// FRONTEND_URL + `/auth/callback`, or a caller's URI that is on the allow-list:
/// the provider only ever sends codes to addresses we chose.
pub(super) fn redirect_uri(config: &Config, requested: Option<&str>) -> ApiResult<String> {
    let default = callback_url(config);
    match requested.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(default),
        Some(r) if r == default || config.oauth_redirect_allowlist.iter().any(|a| a == r) => Ok(r.to_string()),
        Some(_) => Err(ApiError::invalid(
            "redirect_uri",
            "is not on the allowed redirect list (OAUTH_REDIRECT_ALLOWLIST)",
        )),
    }
}

/// The issuer whose discovery document and keys apply to this configuration.
pub(crate) fn issuer(config: &Config, idp: &IdpRow) -> String {
    match idp.kind() {
        Provider::Microsoft => {
            format!(
                "{}/{}/v2.0",
                config.microsoft_authority,
                idp.azure_tenant_id.as_deref().unwrap_or_default()
            )
        }
        Provider::Google => config.google_issuer.clone(),
    }
}

/// The tenant's own app registration, else the platform's multi-tenant one.
pub(crate) fn credentials(state: &AppState, idp: &IdpRow) -> ApiResult<ClientCredentials> {
    if let Some(client_id) = &idp.client_id {
        let client_secret = match &idp.client_secret_enc {
            Some(sealed) => Some(
                state
                    .secrets
                    .open_string(sealed, &secret_context(idp.tenant_id))
                    .map_err(|e| anyhow::anyhow!("identity provider {} client secret: {e}", idp.id))?,
            ),
            None => None,
        };
        return Ok(ClientCredentials {
            client_id: client_id.clone(),
            client_secret,
        });
    }
    let c = &state.config;
    let (id, secret) = match idp.kind() {
        Provider::Microsoft => (&c.microsoft_client_id, &c.microsoft_client_secret),
        Provider::Google => (&c.google_client_id, &c.google_client_secret),
    };
    let client_id = id.clone().ok_or_else(not_configured)?;
    Ok(ClientCredentials {
        client_id,
        client_secret: secret.as_ref().map(|s| s.expose().to_string()),
    })
}
