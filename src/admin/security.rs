//! Super-admin security views: threats (credential stuffing, accounts under
//! attack, lockouts, impersonations), problematic users, and unlocking.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

pub use super::model::{
    AccountUnderAttack, ImpersonationSession, Lockout, ProblematicQuery, ProblematicUser, StuffingSource,
};
use crate::{
    admin::repo::security as sec,
    audit::{self, AuditAction, AuditEvent},
    auth::{SuperAdmin, security},
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::Page,
    users::accounts,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreatQuery {
    /// Look-back window in minutes (1 to 10080); default 60.
    pub window_minutes: Option<i64>,
    /// Distinct emails failing from one IP that count as credential stuffing; default 5.
    pub min_distinct_emails: Option<i64>,
    /// Failures against one email that count as an attack; default 5.
    pub min_failures: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Threats {
    pub window_minutes: i64,
    pub credential_stuffing: Vec<StuffingSource>,
    pub accounts_under_attack: Vec<AccountUnderAttack>,
    /// Accounts locked in about the last day (still locked or recently expired).
    pub recent_lockouts: Vec<Lockout>,
    /// Impersonation sessions started in the last 7 days.
    pub impersonations: Vec<ImpersonationSession>,
}

/// Attack patterns seen in recent sign-ins.
#[utoipa::path(get, path = "/security/threats", tag = "admin", security(("bearer" = ["super_admin"])),
    params(ThreatQuery), responses((status = 200, body = Threats), (status = 422)))]
pub async fn threats(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiQuery(q): ApiQuery<ThreatQuery>,
) -> ApiResult<ApiJson<Threats>> {
    let window = q.window_minutes.unwrap_or(60);
    if !(1..=10080).contains(&window) {
        return Err(ApiError::invalid("window_minutes", "must be between 1 and 10080"));
    }
    let min_emails = q.min_distinct_emails.unwrap_or(5).max(1);
    let min_failures = q.min_failures.unwrap_or(5).max(1);
    let credential_stuffing = sec::credential_stuffing(&mut tx, window as i32, min_emails).await?;
    let accounts_under_attack = sec::accounts_under_attack(&mut tx, window as i32, min_failures).await?;
    let recent_lockouts = sec::recent_lockouts(&mut tx).await?;
    let impersonations = sec::recent_impersonations(&mut tx).await?;
    Ok(ApiJson(Threats {
        window_minutes: window,
        credential_stuffing,
        accounts_under_attack,
        recent_lockouts,
        impersonations,
    }))
}

/// Failures (not yet locked) that make an account worth a look.
const MANY_FAILURES: i32 = 3;

/// Users that are locked, failing, never signed in or unverified.
#[utoipa::path(get, path = "/users/problematic", tag = "admin", security(("bearer" = ["super_admin"])),
    params(ProblematicQuery), responses((status = 200, body = Page<ProblematicUser>), (status = 422)))]
pub async fn problematic_users(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiQuery(q): ApiQuery<ProblematicQuery>,
) -> ApiResult<ApiJson<Page<ProblematicUser>>> {
    const REASONS: [&str; 4] = ["locked", "many_failures", "never_signed_in", "unverified"];
    if let Some(r) = &q.reason
        && !REASONS.contains(&r.as_str())
    {
        return Err(ApiError::invalid(
            "reason",
            format!("must be one of {}", REASONS.join(", ")),
        ));
    }
    let (items, total) = sec::problematic_users(&mut tx, &q, MANY_FAILURES).await?;
    Ok(ApiJson(q.page.wrap(items, total)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnlockResult {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub unlocked: bool,
    pub failed_login_count: i32,
}

/// Clears a user's lock and failure counter (in any tenant).
#[utoipa::path(post, path = "/users/{id}/unlock", tag = "admin", security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path)), responses((status = 200, body = UnlockResult), (status = 404)))]
pub async fn unlock_user(
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<UnlockResult>> {
    let (tenant, email, count, locked_until) = sec::lock_lock_state(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    accounts::clear_lock_as_platform(&mut tx, tenant, id, ctx.user_id).await?;
    let tenant_id = tx.tenant(tenant).await?;
    let old = json!({"failed_login_count": count, "locked_until": audit::timestamp(locked_until)});
    let new = json!({"failed_login_count": 0, "locked_until": null});
    audit::record(
        &mut tx,
        tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::UserUnlocked, "user", id)
            .old(&old)
            .new_values(&new),
    )
    .await?;
    security::record_event(
        &mut tx,
        tenant_id,
        Some(id),
        security::kind::ACCOUNT_UNLOCKED,
        json!({"by": "super_admin", "actor_id": ctx.user_id, "previous": old}),
        &ctx.meta,
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(UnlockResult {
        user_id: id,
        tenant_id: tenant,
        email,
        unlocked: true,
        failed_login_count: 0,
    }))
}
