//! Sessions: an access JWT plus an opaque, rotating refresh token stored only as
//! a hash. Every sign-in path (password, MFA, OAuth, invitation, impersonation)
//! ends here, so all of them answer the same token shape.
//!
//! Revocation: the `Authz` extractor reads the session row (one primary-key
//! look-up joined with the user and tenant rows, which it needs for permissions
//! anyway) unless this instance resolved it within the last `AUTH_CACHE_TTL_MS`
//! and has committed nothing since (see [`super::cache`]): a revocation applies
//! at once on the instance that made it and within that bound on the others.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::jwt::{ACCESS_AUDIENCE, Actor};
use crate::{
    app::AppState,
    crypto::{random_token, token_hash},
    db::{AnyRow, Columns, FromRead, TenantId, TenantRead, TenantTx},
    http::extract::ClientMeta,
};

/// How the session was established (stored on the session row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    Mfa,
    OAuth,
    Invitation,
    Impersonation,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Mfa => "mfa",
            Self::OAuth => "oauth",
            Self::Invitation => "invitation",
            Self::Impersonation => "impersonation",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_super_admin: bool,
    pub mfa_enabled: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
}

impl FromRead for UserSummary {
    fn from_read<R: AnyRow>(c: &mut Columns<'_, R>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: c.next()?,
            email: c.next()?,
            first_name: c.next()?,
            last_name: c.next()?,
            is_active: c.next()?,
            is_super_admin: c.next()?,
            mfa_enabled: c.next()?,
            email_verified_at: c.next()?,
        })
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TenantSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

/// The answer of login, refresh, OAuth callback, invitation and impersonation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: UserSummary,
    pub tenant: TenantSummary,
    /// The session these tokens belong to (for audit rows; not serialised).
    #[serde(skip)]
    pub session_id: Uuid,
}

/// Impersonation details carried into the session and token.
#[derive(Debug, Clone)]
pub struct Impersonation {
    pub actor: Actor,
    pub reason: String,
}

pub async fn load_user_summary(tx: &mut TenantTx, user: Uuid) -> Result<UserSummary, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, first_name, last_name, is_active, is_super_admin, mfa_enabled, email_verified_at \
         FROM users WHERE id = $1",
    )
    .bind(user)
    .fetch_one(&mut **tx)
    .await
}

/// [`load_user_summary`] in one statement (`tenant_read_user_summary`).
pub async fn read_user_summary(read: &TenantRead, user: Uuid) -> Result<UserSummary, sqlx::Error> {
    let rows = read
        .fetch_all(
            "SELECT id, email, first_name, last_name, is_active, is_super_admin, mfa_enabled, \
             email_verified_at FROM tenant_read_user_summary($1, $2)",
            &[user.into()],
        )
        .await?;
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

/// The user and tenant summaries of a token response, in one query.
pub async fn load_summaries(tx: &mut TenantTx, user: Uuid) -> Result<(UserSummary, TenantSummary), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserSummary,
        tenant_id: Uuid,
        tenant_slug: String,
        tenant_name: String,
    }
    let row: Row = sqlx::query_as(
        "SELECT u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_super_admin, u.mfa_enabled, \
         u.email_verified_at, t.id AS tenant_id, t.slug AS tenant_slug, t.name AS tenant_name \
         FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
    )
    .bind(user)
    .fetch_one(&mut **tx)
    .await?;
    let tenant = TenantSummary {
        id: row.tenant_id,
        slug: row.tenant_slug,
        name: row.tenant_name,
    };
    Ok((row.user, tenant))
}

/// Creates a session for `user` in the transaction's tenant and issues its tokens.
/// The caller commits.
pub async fn start_session(
    state: &AppState,
    tx: &mut TenantTx,
    user: Uuid,
    method: AuthMethod,
    meta: &ClientMeta,
    impersonation: Option<Impersonation>,
) -> Result<TokenResponse, sqlx::Error> {
    let tenant = tx.tenant();
    let session_id = Uuid::new_v4();
    let refresh_days = state.config.refresh_token_expire_days;
    // Impersonation sessions live at most one hour and cannot be extended.
    let lifetime = match impersonation {
        Some(_) => Duration::hours(1),
        None => Duration::days(refresh_days),
    };
    let expires_at = OffsetDateTime::now_utc() + lifetime;
    sqlx::query(
        "INSERT INTO user_sessions (tenant_id, id, user_id, ip_address, user_agent, auth_method, \
         impersonator_id, impersonator_email, impersonation_reason, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(tenant.get())
    .bind(session_id)
    .bind(user)
    .bind(meta.ip.as_deref())
    .bind(meta.user_agent.as_deref())
    .bind(method.as_str())
    .bind(impersonation.as_ref().map(|i| i.actor.sub))
    .bind(impersonation.as_ref().and_then(|i| i.actor.email.clone()))
    .bind(impersonation.as_ref().map(|i| i.reason.clone()))
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    let refresh_token = new_refresh_token(tx, session_id).await?;
    let ttl = state
        .jwt
        .access_ttl_secs()
        .min((expires_at - OffsetDateTime::now_utc()).whole_seconds());
    let (access_token, expires_in) = state.jwt.issue(
        ACCESS_AUDIENCE,
        user,
        tenant.get(),
        session_id,
        ttl,
        impersonation.map(|i| i.actor),
    );
    let (user, tenant) = load_summaries(tx, user).await?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "bearer",
        expires_in,
        user,
        tenant,
        session_id,
    })
}

/// Issues and stores (hashed) a new refresh token for `session`.
pub async fn new_refresh_token(tx: &mut TenantTx, session: Uuid) -> Result<String, sqlx::Error> {
    let token = random_token();
    sqlx::query("INSERT INTO refresh_tokens (tenant_id, token_hash, session_id) VALUES ($1, $2, $3)")
        .bind(tx.tenant().get())
        .bind(token_hash(&token))
        .bind(session)
        .execute(&mut **tx)
        .await?;
    Ok(token)
}

/// Why sessions were revoked (stored on the rows).
pub async fn revoke_session(tx: &mut TenantTx, session: Uuid, reason: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE user_sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(session)
        .bind(reason)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
}

/// Revokes every live session of `user`, except `keep` (e.g. the caller's own).
pub async fn revoke_user_sessions(
    tx: &mut TenantTx,
    user: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE user_sessions SET revoked_at = now(), revoked_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user)
    .bind(keep)
    .bind(reason)
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

/// Tenant id of an opaque token via the SECURITY DEFINER look-up.
pub async fn token_tenant(state: &AppState, kind: &str, token: &str) -> Result<Option<TenantId>, sqlx::Error> {
    let mut tx = state.db.anonymous_tx().await?;
    let tenant: Option<Uuid> = sqlx::query_scalar("SELECT auth_token_tenant($1, $2)")
        .bind(kind)
        .bind(token_hash(token))
        .fetch_one(&mut *tx)
        .await?;
    Ok(tenant.map(TenantId::from_trusted))
}
