//! `POST /mfa/totp/setup`, `/enable` and `/disable`.
//!
//! Setup stores a pending seed (sealed) and returns it with ten recovery codes,
//! shown only then; the codes are stored hashed right away but are only useful
//! once MFA is enabled (a repeated setup replaces both). Enable proves the app
//! holds the seed with one code. Disable takes a TOTP or a recovery code and
//! the current password; a wrong one is a budgeted failure that counts toward
//! lockout (see [`super::reauth`]).

use axum::extract::State;
use serde_json::json;

use super::reauth;
use crate::auth::repo;
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditEvent},
    auth::{
        AuthCtx, Authz,
        model::{MfaStatus, TotpCode, TotpDisable, TotpSetup},
        security::{self, Recipient, kind},
        signin::Method,
        totp,
    },
    db::TenantTx,
    http::{ApiError, ApiResult, error::Validator, extract::ApiJson},
    rbac::perm,
    users::accounts,
};

async fn load(tx: &mut TenantTx, ctx: &AuthCtx) -> ApiResult<repo::MfaRow> {
    super::own_credentials(ctx)?;
    Ok(repo::lock_mfa_state(tx, ctx.user_id).await?)
}

fn open_seed(state: &AppState, ctx: &AuthCtx, sealed: &[u8]) -> ApiResult<Vec<u8>> {
    state
        .secrets
        .open(sealed, &totp::seal_context(ctx.tenant_id, ctx.user_id))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("TOTP seed of {} does not open: {e}", ctx.user_id)))
}

fn invalid_code() -> ApiError {
    ApiError::invalid("code", "is not a valid authentication code")
}

/// Records the MFA change (security event, audit row, alert email) and commits.
async fn finish(mut tx: TenantTx, ctx: &AuthCtx, enabled: bool) -> ApiResult<ApiJson<MfaStatus>> {
    let (event, action, alert) = if enabled {
        (kind::MFA_ENABLED, AuditAction::UserMfaEnabled, "mfa_enabled")
    } else {
        (kind::MFA_DISABLED, AuditAction::UserMfaDisabled, "mfa_disabled")
    };
    let tenant = ctx.tenant_id;
    security::record_event(
        &mut tx,
        tenant,
        Some(ctx.user_id),
        event,
        json!({"method": "totp"}),
        &ctx.meta,
    )
    .await?;
    let audit_event = AuditEvent::new(action, "user", ctx.user_id).new_values(json!({"mfa_enabled": enabled}));
    audit::record(&mut tx, tenant, &ctx.actor(), audit_event).await?;
    let detail = if enabled {
        "Two-factor authentication was turned on for your account."
    } else {
        "Two-factor authentication was turned off for your account."
    };
    let to = Recipient {
        email: &ctx.email,
        first_name: &ctx.first_name,
    };
    security::alert(&mut tx, tenant, to, alert, detail, &ctx.meta, json!({})).await?;
    tx.commit().await?;
    Ok(ApiJson(MfaStatus { mfa_enabled: enabled }))
}

/// Starts TOTP enrolment: a new seed and recovery codes (shown only now).
#[utoipa::path(post, path = "/mfa/totp/setup", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, body = TotpSetup),
        (status = 401, description = "Not authenticated"),
        (status = 409, description = "MFA is already enabled")))]
pub async fn totp_setup(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
) -> ApiResult<ApiJson<TotpSetup>> {
    if load(&mut tx, &ctx).await?.mfa_enabled {
        return Err(ApiError::conflict(
            "Two-factor authentication is already enabled; disable it first",
        ));
    }
    let seed = totp::new_secret();
    let sealed = state
        .secrets
        .seal(&seed, &totp::seal_context(ctx.tenant_id, ctx.user_id));
    let (codes, hashes) = totp::new_recovery_codes();
    accounts::stage_totp(&mut tx, ctx.user_id, &sealed, &hashes).await?;
    tx.commit().await?;
    Ok(ApiJson(TotpSetup {
        secret: totp::secret_base32(&seed),
        otpauth_url: totp::otpauth_url(&seed, &state.config.app_name, &ctx.email),
        recovery_codes: codes,
    }))
}

/// Turns TOTP on after checking one code from the pending seed.
#[utoipa::path(post, path = "/mfa/totp/enable", tag = "auth", security(("bearer" = [])), request_body = TotpCode,
    responses(
        (status = 200, body = MfaStatus),
        (status = 401, description = "Not authenticated"),
        (status = 409, description = "Already enabled, or no setup in progress"),
        (status = 422, description = "Wrong code")))]
pub async fn totp_enable(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
    ApiJson(input): ApiJson<TotpCode>,
) -> ApiResult<ApiJson<MfaStatus>> {
    let row = load(&mut tx, &ctx).await?;
    if row.mfa_enabled {
        return Err(ApiError::conflict("Two-factor authentication is already enabled"));
    }
    let pending = row
        .totp_pending_enc
        .ok_or_else(|| ApiError::conflict("Start with POST /mfa/totp/setup"))?;
    let seed = open_seed(&state, &ctx, &pending)?;
    let step = totp::check_code(&seed, &input.code, None).ok_or_else(invalid_code)?;
    accounts::enable_totp(&mut tx, ctx.user_id, step).await?;
    finish(tx, &ctx, true).await
}

/// Turns TOTP off; needs a current TOTP code (or a recovery code) and the
/// current password. Wrong ones spend the per-account budget and count toward
/// lockout, like a failed login.
#[utoipa::path(post, path = "/mfa/totp/disable", tag = "auth", security(("bearer" = [])), request_body = TotpDisable,
    responses(
        (status = 200, body = MfaStatus),
        (status = 401, description = "Not authenticated"),
        (status = 409, description = "MFA is not enabled"),
        (status = 422, description = "Wrong code or current password (`errors` names which)"),
        (status = 429, description = "Too many guesses (per IP or per account), or the account is locked; see Retry-After")))]
pub async fn totp_disable(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
    ApiJson(input): ApiJson<TotpDisable>,
) -> ApiResult<ApiJson<MfaStatus>> {
    let row = load(&mut tx, &ctx).await?;
    let sealed = match (row.mfa_enabled, &row.totp_secret_enc) {
        (true, Some(s)) => s,
        _ => return Err(ApiError::conflict("Two-factor authentication is not enabled")),
    };
    reauth::begin(&state, &ctx, &mut tx).await?;
    let hash = repo::password_hash(&mut tx, ctx.user_id).await?;
    let password_ok = state
        .passwords
        .verify(&input.current_password, hash.as_deref())
        .await
        .ok();
    let seed = open_seed(&state, &ctx, sealed)?;
    let factor = totp::verify_factor(&seed, &input.code, row.totp_last_step, &row.recovery_codes);
    let mut v = Validator::new();
    v.check(password_ok, "current_password", "is incorrect");
    v.check(factor.is_some(), "code", "is not a valid authentication code");
    if let Err(err) = v.finish() {
        let (method, reason) = if password_ok {
            (Method::Totp, "mfa_disable_invalid_code")
        } else {
            (Method::Password, "mfa_disable_invalid_password")
        };
        return reauth::fail(&state, &ctx, tx, method, reason, err).await;
    }
    accounts::disable_totp(&mut tx, ctx.user_id).await?;
    finish(tx, &ctx, false).await
}
