//! `POST /api/v1/auth/impersonate` and `POST /api/v1/auth/end-impersonation`.
//!
//! A super admin opens a session in a tenant as one of its users (by default a
//! tenant admin). The token carries the RFC 8693 `act` claim, lives at most one
//! hour, cannot be nested (the super-admin extractor refuses impersonating
//! tokens) and is revoked by `end-impersonation`. The start is audited in the
//! system chain and the tenant's chain, recorded as a security event and
//! announced to the impersonated user by email; every audit row written during
//! the session carries the impersonator.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::repo,
    auth::{
        Authz, SuperAdmin,
        jwt::Actor,
        security,
        session::{self, AuthMethod, Impersonation, TokenResponse},
    },
    db::TenantId,
    email::{self, EmailTemplate},
    http::{ApiError, ApiResult, error::Validator, extract::ApiJson},
    rbac::perm,
};

/// `POST /auth/impersonate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ImpersonateRequest {
    pub tenant_id: Uuid,
    /// Defaults to an active tenant admin of the tenant.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Why; stored on the session and in the audit trail.
    #[serde(default)]
    pub reason: String,
}

/// Starts acting as a user of a tenant.
#[utoipa::path(post, path = "/impersonate", tag = "auth", security(("bearer" = ["super_admin"])),
    request_body = ImpersonateRequest,
    responses((status = 200, body = TokenResponse), (status = 403, description = "Super admin only, or the target is a super admin"),
        (status = 404, description = "No such tenant or user"), (status = 409, description = "Tenant or user inactive"),
        (status = 422, description = "Reason missing")))]
pub async fn impersonate(
    State(state): State<AppState>,
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiJson(input): ApiJson<ImpersonateRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    let reason = input.reason.trim().to_string();
    Validator::new()
        .check(!reason.is_empty(), "reason", "is required")
        .check(
            reason.chars().count() <= 500,
            "reason",
            "must be at most 500 characters",
        )
        .finish()?;
    let tenant = repo::tenant_state(&mut tx, input.tenant_id).await?;
    let (tenant_active, tenant_name) = tenant.ok_or_else(|| ApiError::not_found("Tenant"))?;
    if !tenant_active {
        return Err(ApiError::conflict("The tenant is inactive"));
    }
    let target = match input.user_id {
        Some(user) => repo::impersonation_target(&mut tx, input.tenant_id, user)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))?,
        None => repo::first_tenant_admin(&mut tx, input.tenant_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("The tenant has no active tenant admin; name a user_id".into()))?,
    };
    if target.is_super_admin {
        return Err(ApiError::forbidden("Super admins cannot be impersonated"));
    }
    if !target.is_active {
        return Err(ApiError::conflict("The user is inactive"));
    }

    let details = json!({
        "tenant_id": input.tenant_id, "user_id": target.id, "user_email": &target.email,
        "impersonator_id": ctx.user_id, "impersonator_email": &ctx.email, "reason": &reason,
    });
    audit::record(
        &mut tx,
        TenantId::SYSTEM,
        &ctx.actor(),
        AuditEvent::new(AuditAction::ImpersonationStarted, "user", target.id).new_values(&details),
    )
    .await?;

    let tenant = tx.tenant(input.tenant_id).await?;
    let mut ttx = state.db.tenant_tx(tenant).await?;
    let actor = Actor {
        sub: ctx.user_id,
        email: Some(ctx.email.clone()),
    };
    let tokens = session::start_session(
        &state,
        &mut ttx,
        target.id,
        AuthMethod::Impersonation,
        &ctx.meta,
        Some(Impersonation {
            actor,
            reason: reason.clone(),
        }),
    )
    .await?;
    // In the tenant's own chain the row reads "the super admin, acting as the user".
    let as_user = AuditActor {
        user_id: Some(target.id),
        impersonator_id: Some(ctx.user_id),
        meta: ctx.meta.clone(),
        principal: None,
    };
    audit::record(
        &mut ttx,
        tenant,
        &as_user,
        AuditEvent::new(AuditAction::ImpersonationStarted, "user", target.id).new_values(&details),
    )
    .await?;
    security::record_event(
        &mut ttx,
        tenant,
        Some(target.id),
        "impersonation.started",
        details.clone(),
        &ctx.meta,
    )
    .await?;
    email::enqueue(
        &mut ttx,
        tenant,
        &target.email,
        EmailTemplate::SecurityAlert,
        json!({
            "first_name": target.first_name,
            "event": "impersonation_started",
            "detail": format!("A platform administrator ({}) started a support session as you in {tenant_name}. Reason: {reason}",
                ctx.email),
            "occurred_at": OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "ip_address": ctx.meta.ip.clone().unwrap_or_default(),
            "tenant_name": tenant_name,
        }),
    )
    .await?;
    // The system-chain record commits first: an audited attempt without a
    // session is acceptable, a session without its audit row is not.
    tx.commit().await?;
    ttx.commit().await?;
    Ok(ApiJson(tokens))
}

/// Ends the caller's impersonation session: revoked at once.
#[utoipa::path(post, path = "/end-impersonation", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 400, description = "Not an impersonation session"), (status = 401)))]
pub async fn end_impersonation(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
) -> ApiResult<StatusCode> {
    let Some(impersonator) = ctx.impersonator.clone() else {
        return Err(ApiError::BadRequest("This is not an impersonation session".into()));
    };
    session::revoke_session(&mut tx, ctx.session_id, "impersonation_ended").await?;
    let details = json!({"tenant_id": ctx.tenant_id, "user_id": ctx.user_id, "session_id": ctx.session_id,
        "impersonator_id": impersonator.sub, "impersonator_email": impersonator.email});
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::ImpersonationEnded, "user", ctx.user_id).new_values(&details),
    )
    .await?;
    security::record_event(
        &mut tx,
        ctx.tenant_id,
        Some(ctx.user_id),
        "impersonation.ended",
        details.clone(),
        &ctx.meta,
    )
    .await?;
    // The super admin's own record, in the system tenant's chain: a tenant
    // transaction of the system tenant suffices (no cross-tenant access).
    let mut sys = state.db.tenant_tx(TenantId::SYSTEM).await?;
    let sa = AuditActor::user(impersonator.sub, ctx.meta.clone());
    audit::record(
        &mut sys,
        TenantId::SYSTEM,
        &sa,
        AuditEvent::new(AuditAction::ImpersonationEnded, "user", ctx.user_id).new_values(&details),
    )
    .await?;
    tx.commit().await?;
    sys.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
