//! Authentication extractors. A handler names what it needs in its signature:
//! `Authz<perm::ProjectsRead>` (a tenant user holding that permission, with a
//! tenant transaction already open) or `SuperAdmin` (the platform handle).

use std::{marker::PhantomData, sync::Arc};

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use uuid::Uuid;

use super::{
    cache::ResolvedSession,
    jwt::{ACCESS_AUDIENCE, Actor, Claims},
    ratelimit::{ApiLimits, api_budget, request_cost},
};
use crate::{
    app::AppState,
    audit::AuditActor,
    db::{Db, PlatformAccess, PlatformTx, SYSTEM_TENANT_ID, TenantId, TenantRead, TenantTx},
    http::{
        error::ApiError,
        extract::{ClientMeta, client_meta},
        ratelimit::RateLimitSlot,
    },
    rbac::{Permission, Required},
};

/// The authenticated caller, resolved per request from the token and the database.
#[derive(Debug, Clone)]
pub struct AuthCtx {
    pub user_id: Uuid,
    pub tenant_id: TenantId,
    pub session_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub is_super_admin: bool,
    /// Sorted, unique; from unexpired role assignments and group roles.
    pub permissions: Vec<Permission>,
    /// The super admin acting as this user (RFC 8693 `act`).
    pub impersonator: Option<Actor>,
    pub meta: ClientMeta,
    /// Set when the caller is an API key (see `crate::integrations::api_keys`):
    /// `user_id` is then the key's creator (for ownership columns such as
    /// `created_by`), `session_id` the key's id, and the audit actor the key.
    pub api_key: Option<ApiKeyRef>,
}

/// The API key a request authenticated with.
#[derive(Debug, Clone)]
pub struct ApiKeyRef {
    pub id: Uuid,
    pub name: String,
}

impl AuthCtx {
    pub fn has(&self, p: Permission) -> bool {
        self.permissions.binary_search(&p).is_ok()
    }

    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.has(p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("Missing permission {p}")))
        }
    }

    /// The audit actor for rows written on this request: the user, or the
    /// API key as `api_key:<name>` (no user id: the key, not its creator, acted).
    pub fn actor(&self) -> AuditActor {
        if let Some(key) = &self.api_key {
            return AuditActor {
                user_id: None,
                impersonator_id: None,
                meta: self.meta.clone(),
                principal: Some(format!("api_key:{}", key.name)),
            };
        }
        AuditActor {
            user_id: Some(self.user_id),
            impersonator_id: self.impersonator.as_ref().map(|a| a.sub),
            meta: self.meta.clone(),
            principal: None,
        }
    }
}

/// An authenticated tenant user holding `P`, plus the tenant transaction the
/// handler works in (rolled back unless the handler commits).
pub struct Authz<P: Required> {
    pub ctx: AuthCtx,
    pub tx: TenantTx,
    _perm: PhantomData<P>,
}

/// A super admin (system tenant, flag set, not impersonating) and the
/// cross-tenant platform transaction only this extractor hands out.
pub struct SuperAdmin {
    pub ctx: AuthCtx,
    pub tx: PlatformTx,
}

impl SuperAdmin {
    /// Opens further platform transactions for this super admin's work that
    /// commits in batches (the maintenance cleanup), beyond [`Self::tx`].
    pub fn access(&self, db: &Db) -> PlatformAccess {
        db.super_admin_access()
    }
}

pub(crate) fn unauthorized() -> ApiError {
    ApiError::Unauthorized("Missing, invalid, expired or revoked access token".into())
}

/// The bearer token's verified claims.
pub fn bearer_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    verify_access(bearer(parts)?, state)
}

/// The raw `Authorization: Bearer` value (a JWT or an API key).
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized());
    }
    Ok(token.trim())
}

/// The session check, one statement (skipped on a session-cache hit, see
/// [`super::cache`]): `tenant_read_session` (migration 20261205180000) finds
/// the session live, the user and tenant active, and the permissions of
/// unexpired role assignments and of the user's groups' roles.
const SESSION_SQL: &str = "SELECT email, first_name, last_name, is_super_admin, tenant_slug, tenant_name, \
     permissions, valid_for_secs FROM tenant_read_session($1, $2, $3)";

/// Spends the caller's and its tenant's API budget for this request (before
/// any database work, so a flood is refused cheaply) and reports both budgets
/// for the `RateLimit` headers. `RATE_LIMIT_API_PER_MINUTE=0` or
/// `RATE_LIMIT_TENANT_PER_MINUTE=0` turns this off.
///
/// `principal` is `user:<id>` for a user's token, `key:<id>` for an API key.
pub(crate) async fn spend_api_budget(
    parts: &Parts,
    state: &AppState,
    principal: &str,
    tenant: Uuid,
) -> Result<(), ApiError> {
    let (per_principal, per_tenant) = (
        state.config.rate_limit_api_per_minute,
        state.config.rate_limit_tenant_per_minute,
    );
    if per_principal == 0 || per_tenant == 0 {
        return Ok(());
    }
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| parts.uri.path(), |m| m.as_str());
    let limits = ApiLimits {
        per_principal,
        per_tenant,
    };
    let (states, verdict) = api_budget(&state.limiter, limits, principal, tenant, request_cost(route)).await;
    if let Some(slot) = parts.extensions.get::<RateLimitSlot>() {
        slot.report(states);
    }
    verdict
}

/// The claims of a bearer access token: its signature, algorithm, issuer,
/// audience and expiry checked ([`crate::auth::jwt::JwtKeys::verify`]), or
/// found in the cache of tokens that passed those checks moments ago.
fn verify_access(token: &str, state: &AppState) -> Result<Claims, ApiError> {
    if let Some(claims) = state.auth_cache.verified(token) {
        return Ok(claims);
    }
    let claims = state.jwt.verify(token, ACCESS_AUDIENCE).ok_or_else(unauthorized)?;
    state.auth_cache.put_verified(token, &claims);
    Ok(claims)
}

/// Resolves the caller inside a fresh tenant transaction.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<(AuthCtx, TenantTx), ApiError> {
    let token = bearer(parts)?;
    if crate::integrations::api_keys::authn::is_api_key(token) {
        return crate::integrations::api_keys::authn::authenticate_key(token, parts, state).await;
    }
    authenticate_claims(verify_access(token, state)?, parts, state).await
}

/// The session check behind every front door: verified `claims` (from a bearer
/// token, or the console's session cookie) name a live session of an active
/// user in an active tenant. Spends the caller's API budget, resolves the
/// caller, then opens a tenant transaction.
pub async fn authenticate_claims(
    claims: Claims,
    parts: &Parts,
    state: &AppState,
) -> Result<(AuthCtx, TenantTx), ApiError> {
    let ctx = resolve_claims(claims, parts, state).await?;
    let tx = state.db.tenant_tx(ctx.tenant_id).await?;
    Ok((ctx, tx))
}

/// [`authenticate_claims`] without the transaction: the session cache, or on a
/// miss one single-statement read.
async fn resolve_claims(claims: Claims, parts: &Parts, state: &AppState) -> Result<AuthCtx, ApiError> {
    spend_api_budget(parts, state, &format!("user:{}", claims.sub), claims.tid).await?;
    let tenant = TenantId::from_trusted(claims.tid);
    let row = match state.auth_cache.get(claims.tid, claims.sid, claims.sub) {
        Some(hit) => hit,
        None => {
            let generation = crate::db::commit_generation(claims.tid);
            let row: ResolvedSession = state
                .db
                .tenant_read(tenant)
                .fetch_all(SESSION_SQL, &[claims.sid.into(), claims.sub.into()])
                .await?
                .pop()
                .ok_or_else(unauthorized)?;
            let row = Arc::new(row);
            state
                .auth_cache
                .put(claims.tid, claims.sid, claims.sub, generation, row.clone());
            row
        }
    };
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(claims.tid));
    span.record("user_id", tracing::field::display(claims.sub));
    let ctx = AuthCtx {
        user_id: claims.sub,
        tenant_id: tenant,
        session_id: claims.sid,
        email: row.email.clone(),
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        tenant_slug: row.tenant_slug.clone(),
        tenant_name: row.tenant_name.clone(),
        is_super_admin: row.is_super_admin,
        permissions: row.permissions.0.clone(),
        impersonator: claims.act,
        meta: client_meta(parts),
        api_key: None,
    };
    Ok(ctx)
}

/// Refuses `ctx` with 403 unless it holds `P`; routes that require no
/// permission (`perm::Authenticated`) are a person's own, so an API key gets
/// 403 there.
fn require<P: Required>(ctx: &AuthCtx) -> Result<(), ApiError> {
    match P::PERMISSION {
        Some(p) => ctx.require(p),
        None if ctx.api_key.is_some() => Err(ApiError::forbidden(
            "This route is for a signed-in user, not an API key",
        )),
        None => Ok(()),
    }
}

/// Like [`Authz`], but with the tenant's single-statement reads
/// ([`TenantRead`]) instead of an open transaction, for read routes a
/// `tenant_read_*` function serves: when the session cache answers, such a
/// request makes one round trip to PostgreSQL in all.
pub struct AuthzRead<P: Required> {
    pub ctx: AuthCtx,
    pub read: TenantRead,
    _perm: PhantomData<P>,
}

impl<P: Required> Authz<P> {
    /// The same caller with single-statement reads (its transaction rolled
    /// back), for a page that calls an [`AuthzRead`] handler.
    pub fn into_read(self, db: &crate::db::Db) -> AuthzRead<P> {
        AuthzRead {
            read: db.tenant_read(self.ctx.tenant_id),
            ctx: self.ctx,
            _perm: PhantomData,
        }
    }
}

impl<P: Required> FromRequestParts<AppState> for AuthzRead<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let ctx = if crate::integrations::api_keys::authn::is_api_key(token) {
            crate::integrations::api_keys::authn::authenticate_key(token, parts, state)
                .await?
                .0
        } else {
            resolve_claims(verify_access(token, state)?, parts, state).await?
        };
        require::<P>(&ctx)?;
        Ok(AuthzRead {
            read: state.db.tenant_read(ctx.tenant_id),
            ctx,
            _perm: PhantomData,
        })
    }
}

impl<P: Required> Authz<P> {
    /// A caller resolved by [`authenticate_claims`] through another front door
    /// (the console), refused with 403 unless it holds `P`.
    ///
    /// Routes that require no permission (`perm::Authenticated`: `/users/me`,
    /// change-password, MFA, logout, login history, `/auth/status`) are a
    /// person's own, so an API key gets 403 there.
    pub fn checked(ctx: AuthCtx, tx: TenantTx) -> Result<Self, ApiError> {
        require::<P>(&ctx)?;
        Ok(Authz {
            ctx,
            tx,
            _perm: PhantomData,
        })
    }
}

impl<P: Required> FromRequestParts<AppState> for Authz<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (ctx, tx) = authenticate(parts, state).await?;
        Self::checked(ctx, tx)
    }
}

impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (ctx, tx) = authenticate(parts, state).await?;
        drop(tx);
        if ctx.tenant_id.get() != SYSTEM_TENANT_ID || !ctx.is_super_admin || ctx.impersonator.is_some() {
            return Err(ApiError::Forbidden("Super admin only".into()));
        }
        let tx = state.db.platform_tx().await?;
        Ok(SuperAdmin { ctx, tx })
    }
}

/// `Option<SuperAdmin>`: the caller when a super admin's token is presented, else
/// `None` (no token, another user's, or one that cannot be checked right now).
/// For public routes that show more to a super admin, e.g. `/health/detailed`,
/// which must answer even while the database is down.
impl OptionalFromRequestParts<AppState> for SuperAdmin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        Ok(<Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .ok())
    }
}
