//! SQL of the OAuth feature: identity-provider rows and single-use states.
//! Every query names its tenant; RLS (tenant transactions) or the platform role
//! (super-admin handlers) decides what is visible. The identity-provider
//! functions take a bare connection because the tenant admin's console and the
//! super admin's routes share them; the sign-in's own take a [`TenantTx`].

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{IdpRow, Provider};
use crate::db::{PlatformTx, TenantTx};

const IDP_COLUMNS: &str = "tenant_id, id, provider, client_id, client_secret_enc, azure_tenant_id, allowed_domains, \
     auto_provision_users, default_role_name, is_enabled, created_at, updated_at";

/// The validated content of an identity-provider row.
pub struct IdpValues {
    pub client_id: Option<String>,
    pub client_secret_enc: Option<Vec<u8>>,
    pub azure_tenant_id: Option<String>,
    pub allowed_domains: Vec<String>,
    pub auto_provision_users: bool,
    pub default_role_name: String,
    pub is_enabled: bool,
}

pub async fn tenant_exists(tx: &mut PlatformTx, tenant: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)")
        .bind(tenant)
        .fetch_one(&mut **tx)
        .await
}

pub async fn role_exists(conn: &mut PgConnection, tenant: Uuid, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM roles WHERE tenant_id = $1 AND name = $2)")
        .bind(tenant)
        .bind(name)
        .fetch_one(conn)
        .await
}

pub async fn list(
    conn: &mut PgConnection,
    tenant: Uuid,
    limit: i64,
    offset: i64,
) -> Result<(Vec<IdpRow>, i64), sqlx::Error> {
    let total = sqlx::query_scalar("SELECT count(*) FROM tenant_identity_providers WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {IDP_COLUMNS} FROM tenant_identity_providers WHERE tenant_id = $1 \
         ORDER BY provider LIMIT $2 OFFSET $3"
    )))
    .bind(tenant)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

pub async fn get(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<Option<IdpRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {IDP_COLUMNS} FROM tenant_identity_providers WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The tenant's enabled configuration for `provider`, if any.
pub async fn enabled(tx: &mut TenantTx, tenant: Uuid, provider: Provider) -> Result<Option<IdpRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {IDP_COLUMNS} FROM tenant_identity_providers \
         WHERE tenant_id = $1 AND provider = $2 AND is_enabled"
    )))
    .bind(tenant)
    .bind(provider.as_str())
    .fetch_optional(&mut **tx)
    .await
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    provider: Provider,
    v: &IdpValues,
    by: Uuid,
) -> Result<IdpRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO tenant_identity_providers (tenant_id, id, provider, client_id, client_secret_enc, \
         azure_tenant_id, allowed_domains, auto_provision_users, default_role_name, is_enabled, created_by, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {IDP_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(provider.as_str())
    .bind(&v.client_id)
    .bind(&v.client_secret_enc)
    .bind(&v.azure_tenant_id)
    .bind(&v.allowed_domains)
    .bind(v.auto_provision_users)
    .bind(&v.default_role_name)
    .bind(v.is_enabled)
    .bind(by)
    .fetch_one(conn)
    .await
}

pub async fn update(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    v: &IdpValues,
    by: Uuid,
) -> Result<IdpRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tenant_identity_providers SET client_id = $3, client_secret_enc = $4, azure_tenant_id = $5, \
         allowed_domains = $6, auto_provision_users = $7, default_role_name = $8, is_enabled = $9, updated_by = $10 \
         WHERE tenant_id = $1 AND id = $2 RETURNING {IDP_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(&v.client_id)
    .bind(&v.client_secret_enc)
    .bind(&v.azure_tenant_id)
    .bind(&v.allowed_domains)
    .bind(v.auto_provision_users)
    .bind(&v.default_role_name)
    .bind(v.is_enabled)
    .bind(by)
    .fetch_one(conn)
    .await
}

pub async fn delete(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM tenant_identity_providers WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// What a consumed state binds the callback to.
#[derive(sqlx::FromRow)]
pub struct StateRow {
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
}

/// Why a state was issued: only a callback of the same purpose consumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatePurpose {
    SignIn,
    /// An administrator's test of the configuration: reports, never signs in.
    Test,
}

impl StatePurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::Test => "test",
        }
    }
}

pub struct NewState<'a> {
    pub state_hash: Vec<u8>,
    pub purpose: StatePurpose,
    pub provider: Provider,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    pub redirect_uri: &'a str,
    pub expires_at: OffsetDateTime,
}

pub async fn insert_state(tx: &mut TenantTx, tenant: Uuid, s: &NewState<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_states (tenant_id, state_hash, provider, nonce, pkce_verifier, redirect_uri, expires_at, purpose) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant)
    .bind(&s.state_hash)
    .bind(s.provider.as_str())
    .bind(s.nonce)
    .bind(s.pkce_verifier)
    .bind(s.redirect_uri)
    .bind(s.expires_at)
    .bind(s.purpose.as_str())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Marks the state used and returns it, when it exists for this tenant,
/// provider and purpose, is unused and has not expired. A second call finds nothing.
pub async fn consume_state(
    tx: &mut TenantTx,
    tenant: Uuid,
    provider: Provider,
    purpose: StatePurpose,
    state_hash: &[u8],
) -> Result<Option<StateRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE oauth_states SET used_at = now() \
         WHERE tenant_id = $1 AND state_hash = $2 AND provider = $3 AND purpose = $4 \
           AND used_at IS NULL AND expires_at > now() \
         RETURNING nonce, pkce_verifier, redirect_uri",
    )
    .bind(tenant)
    .bind(state_hash)
    .bind(provider.as_str())
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await
}
