//! Bulk operations on users. Each bulk row runs inside its own
//! SAVEPOINT, so one bad row is rolled back alone and never blocks the rest;
//! the good rows commit together at the end. Rows follow the single-user rules:
//! created roles must be grantable by the caller, actions need every permission
//! of the target user (403 on that row), and deactivation keeps the tenant's
//! last admin (409 on that row).

use std::collections::HashSet;

use axum::extract::State;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    model::{
        BulkActionKind, BulkActionRequest, BulkActionResult, BulkActionRow, BulkCreateRequest, BulkCreateResult,
        BulkUser, CreatedRow, RowError,
    },
    repo,
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        AuthCtx, Authz, security,
        session::revoke_user_sessions,
        tokens::{self, TokenKind, WELCOME_SET_PASSWORD_TTL},
    },
    db::TenantTx,
    email::{self, EmailTemplate},
    http::{ApiError, ApiResult, extract::ApiJson},
    rbac::{admins::AdminGuard, grants, perm},
    users::accounts::{self, NewUser, RoleGrant, hash_new_password},
};

/// The largest batch one request may carry.
pub const MAX_BULK_ROWS: usize = 500;

/// The detail and field errors of a failed row.
fn row_error(index: usize, email: Option<String>, err: ApiError) -> RowError {
    let status = err.status().as_u16();
    match err {
        ApiError::Validation(errors) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            let detail = format!("Invalid: {}", fields.join(", "));
            RowError {
                index,
                email,
                status,
                detail,
                errors,
            }
        }
        ApiError::Internal(e) => {
            tracing::error!(error = ?format!("{e:#}"), index, "bulk user row failed");
            RowError {
                index,
                email,
                status,
                detail: "An internal error occurred".into(),
                errors: vec![],
            }
        }
        other => RowError {
            index,
            email,
            status,
            detail: other.to_string(),
            errors: vec![],
        },
    }
}

/// Creates up to 500 users. Valid rows are created; each invalid row is reported
/// with its index and reason. Seat limits, duplicates and roles are checked by
/// the shared account creation, row by row.
#[utoipa::path(post, path = "/bulk/create", tag = "users", security(("bearer" = ["users:create"])),
    request_body = BulkCreateRequest,
    responses((status = 200, body = BulkCreateResult), (status = 422, description = "No rows, or more than 500")))]
pub async fn bulk_create(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::UsersCreate>,
    ApiJson(input): ApiJson<BulkCreateRequest>,
) -> ApiResult<ApiJson<BulkCreateResult>> {
    if input.users.is_empty() || input.users.len() > MAX_BULK_ROWS {
        return Err(ApiError::invalid(
            "users",
            format!("must hold between 1 and {MAX_BULK_ROWS} rows"),
        ));
    }
    let total = input.users.len();
    let welcome = input.send_welcome_email.unwrap_or(true);
    // Parse and hash first, outside the row loop: hashing is the slow part and
    // runs concurrently (bounded by the hasher's own permits).
    let prepared = futures::future::join_all(input.users.into_iter().enumerate().map(|(index, raw)| {
        let state = state.clone();
        async move { (index, prepare_row(&state, raw).await) }
    }))
    .await;
    let actor = ctx.actor();
    let mut created = Vec::new();
    let mut errors = Vec::new();
    for (index, row) in prepared {
        let (email, new_user) = match row {
            Ok(row) => row,
            Err((email, err)) => {
                errors.push(row_error(index, email, err));
                continue;
            }
        };
        let has_password = new_user.password_hash.is_some();
        let result = repo::in_savepoint(&mut tx, async |tx: &mut TenantTx| {
            let user = accounts::create_user(tx, &actor, RoleGrant::ByCaller(&ctx.permissions), new_user).await?;
            if welcome {
                send_welcome(tx, user.id, &user.email, &user.first_name, has_password).await?;
            }
            repo::get_user(tx, user.id).await
        })
        .await;
        match result {
            Ok(user) => created.push(CreatedRow { index, user }),
            Err(err) => errors.push(row_error(index, Some(email), err)),
        }
    }
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &actor,
        AuditEvent::new(AuditAction::UserBulkCreated, "user", "bulk").new_values(json!({
            "total": total, "created": created.iter().map(|c| c.user.id).collect::<Vec<_>>(), "failed": errors.len(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(BulkCreateResult { created, errors, total }))
}

type Prepared = Result<(String, NewUser), (Option<String>, ApiError)>;

/// Parses one raw row and hashes its password (policy-checked).
async fn prepare_row(state: &AppState, raw: Value) -> Prepared {
    let email_hint = raw
        .get("email")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_lowercase());
    let row: BulkUser = match crate::http::extract::parse_json(raw.to_string().as_bytes()) {
        Ok(r) => r,
        Err(e) => return Err((email_hint, e)),
    };
    let email = row.email.trim().to_lowercase();
    let password_hash = match &row.password {
        Some(p) => match hash_new_password(state, "password", p, Some(&email)).await {
            Ok(h) => Some(h),
            Err(e) => return Err((Some(email), e)),
        },
        None => None,
    };
    let new = NewUser {
        email: email.clone(),
        first_name: row.first_name,
        last_name: row.last_name,
        password_hash,
        role_names: row.role_names.unwrap_or_default(),
        email_verified: false,
    };
    Ok((email, new))
}

/// Welcome email: with a set-password link when the account has no password.
async fn send_welcome(
    tx: &mut TenantTx,
    user: Uuid,
    to: &str,
    first_name: &str,
    has_password: bool,
) -> Result<(), ApiError> {
    let mut context = json!({"first_name": first_name});
    if !has_password {
        let token = tokens::issue(tx, TokenKind::PasswordReset, user, WELCOME_SET_PASSWORD_TTL).await?;
        context["token"] = json!(token);
        context["expires_hours"] = json!(WELCOME_SET_PASSWORD_TTL.whole_hours());
    }
    let tenant = tx.tenant();
    email::enqueue(tx, tenant, to, EmailTemplate::Welcome, context).await?;
    Ok(())
}

/// Applies one action to many users, each in its own savepoint; per-row results
/// (403 for a user above the caller, 409 for the last admin's deactivation).
#[utoipa::path(post, path = "/bulk/action", tag = "users", security(("bearer" = ["users:update"])),
    request_body = BulkActionRequest,
    responses((status = 200, body = BulkActionResult), (status = 422, description = "No ids, more than 500, or unknown action")))]
pub async fn bulk_action(
    Authz { ctx, mut tx, .. }: Authz<perm::UsersUpdate>,
    ApiJson(input): ApiJson<BulkActionRequest>,
) -> ApiResult<ApiJson<BulkActionResult>> {
    if input.user_ids.is_empty() || input.user_ids.len() > MAX_BULK_ROWS {
        return Err(ApiError::invalid(
            "user_ids",
            format!("must hold between 1 and {MAX_BULK_ROWS} ids"),
        ));
    }
    // Each id once, in the order first given.
    let mut seen = HashSet::new();
    let ids: Vec<Uuid> = input.user_ids.iter().copied().filter(|id| seen.insert(*id)).collect();
    // Taken before any row locks a user (one lock order), held for every row.
    let admins = AdminGuard::lock(&mut tx).await?;
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let outcome = repo::in_savepoint(&mut tx, async |tx: &mut TenantTx| {
            apply_action(tx, &ctx, &admins, id, input.action).await
        })
        .await;
        results.push(match outcome {
            Ok(detail) => BulkActionRow {
                user_id: id,
                success: true,
                status: 200,
                detail,
            },
            Err(e) => {
                let status = e.status().as_u16();
                let detail = if matches!(e, ApiError::Internal(_)) {
                    "An internal error occurred".into()
                } else {
                    e.to_string()
                };
                BulkActionRow {
                    user_id: id,
                    success: false,
                    status,
                    detail,
                }
            }
        });
    }
    tx.commit().await?;
    let succeeded = results.iter().filter(|r| r.success).count();
    Ok(ApiJson(BulkActionResult {
        action: input.action,
        failed: results.len() - succeeded,
        succeeded,
        results,
    }))
}

/// One user, one action; audited. Returns a short description of what changed.
async fn apply_action(
    tx: &mut TenantTx,
    ctx: &AuthCtx,
    admins: &AdminGuard,
    id: Uuid,
    action: BulkActionKind,
) -> Result<String, ApiError> {
    let tenant = ctx.tenant_id;
    let actor: AuditActor = ctx.actor();
    let user = repo::get_user(tx, id).await?;
    grants::ensure_can_manage(tx, &ctx.permissions, id).await?;
    match action {
        BulkActionKind::Activate => {
            if user.is_active {
                return Ok("already active".into());
            }
            repo::ensure_seat_available(tx).await?;
            repo::lock_user(tx, id).await?;
            accounts::set_active(tx, id, true, Some(ctx.user_id)).await?;
            let ev = AuditEvent::new(AuditAction::UserActivated, "user", id)
                .old(json!({"is_active": false}))
                .new_values(json!({"is_active": true}));
            audit::record(tx, tenant, &actor, ev).await?;
            Ok("activated".into())
        }
        BulkActionKind::Deactivate => {
            if id == ctx.user_id {
                return Err(ApiError::conflict("You cannot deactivate your own account"));
            }
            let user = repo::lock_user(tx, id).await?;
            let revoked = accounts::set_active(tx, id, false, Some(ctx.user_id)).await?;
            admins.ensure_admin_remains(tx).await?;
            let ev = AuditEvent::new(AuditAction::UserDeactivated, "user", id)
                .old(json!({"is_active": user.is_active}))
                .new_values(json!({"is_active": false, "sessions_revoked": revoked}));
            audit::record(tx, tenant, &actor, ev).await?;
            Ok(format!("deactivated; {revoked} session(s) revoked"))
        }
        BulkActionKind::TerminateSessions => {
            let revoked = revoke_user_sessions(tx, id, None, "terminated by administrator").await?;
            let ev = AuditEvent::new(AuditAction::UserSessionsTerminated, "user", id)
                .new_values(json!({"sessions_revoked": revoked}));
            audit::record(tx, tenant, &actor, ev).await?;
            Ok(format!("{revoked} session(s) revoked"))
        }
        BulkActionKind::Unlock => {
            let (locked_until, failed) = repo::lock_lock_state(tx, id)
                .await?
                .ok_or_else(|| ApiError::not_found("User"))?;
            accounts::clear_lock(tx, id).await?;
            security::record_event(
                tx,
                tenant,
                Some(id),
                security::kind::ACCOUNT_UNLOCKED,
                json!({"by": ctx.user_id, "via": "bulk_action"}),
                &ctx.meta,
            )
            .await?;
            let ev = AuditEvent::new(AuditAction::UserUnlocked, "user", id)
                .old(json!({"locked_until": locked_until.map(|t| t.unix_timestamp()), "failed_login_count": failed}))
                .new_values(json!({"locked_until": null, "failed_login_count": 0}));
            audit::record(tx, tenant, &actor, ev).await?;
            Ok("unlocked".into())
        }
    }
}
