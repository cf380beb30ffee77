//! `POST /login` and `POST /mfa/verify`: password sign-in and its TOTP step.
//!
//! Every failure (unknown email, wrong password, locked, deactivated, tenant
//! inactive) answers the same 401 `Invalid email or password` after the same
//! work: one Argon2 verification per matching account, or one against a dummy
//! hash when none matches.

use axum::extract::State;
use serde_json::json;
use uuid::Uuid;

use crate::auth::repo;
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        budget::{check_account, fail_account, limit_ip},
        jwt::MFA_AUDIENCE,
        model::{LoginRequest, LoginResponse, MfaChallenge, MfaVerifyRequest, TenantChoice},
        password::Verified,
        security::{self, kind},
        session::{AuthMethod, TokenResponse, start_session},
        signin::{self, Attempt, Candidate, Method},
        totp::{self, Factor},
    },
    db::{TenantId, TenantTx},
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ClientMeta},
    },
    users::accounts,
};

/// Lifetime of the token between the password and the TOTP step.
const MFA_TOKEN_TTL_SECS: i64 = 300;
/// Longer inputs are refused before any hashing (Argon2 cost grows with length).
const MAX_PASSWORD_INPUT: usize = 1024;

/// Writes `session.created` and commits the sign-in.
async fn finish_sign_in(
    state: &AppState,
    mut tx: TenantTx,
    user: Uuid,
    method: AuthMethod,
    meta: &ClientMeta,
) -> ApiResult<TokenResponse> {
    let tokens = start_session(state, &mut tx, user, method, meta, None).await?;
    let actor = AuditActor::user(user, meta.clone());
    let tenant = tx.tenant();
    audit::record(
        &mut tx,
        tenant,
        &actor,
        AuditEvent::new(AuditAction::SessionCreated, "session", tokens.session_id)
            .new_values(json!({"auth_method": method.as_str()})),
    )
    .await?;
    tx.commit().await?;
    Ok(tokens)
}

/// Why a candidate cannot sign in even with the right password.
fn refusal(c: &Candidate) -> Option<&'static str> {
    if !c.tenant_active {
        Some("tenant_inactive")
    } else if !c.user_active {
        Some("user_inactive")
    } else if c.is_locked() {
        Some("locked")
    } else {
        None
    }
}

/// Sign in with email and password (and a tenant slug when the email has
/// accounts in several tenants).
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse, description = "Tokens, or `mfa_required` with an `mfa_token`"),
        (status = 401, description = "Invalid email or password"),
        (status = 409, description = "Several tenants match: `tenants` lists the choices"),
        (status = 429, description = "Rate limited")))]
pub async fn login(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<LoginResponse>> {
    let email = input.email.trim().to_lowercase();
    Validator::new()
        .check(
            !email.is_empty() && email.len() <= 254,
            "email",
            "must be an email address",
        )
        .check(!input.password.is_empty(), "password", "is required")
        .check(input.password.len() <= MAX_PASSWORD_INPUT, "password", "is too long")
        .finish()?;
    limit_ip(&state, "login", &meta).await?;
    check_account(&state, "login", &email).await?;

    let mut candidates = signin::candidates(&state, &email, input.tenant_slug.as_deref()).await?;
    for c in candidates.iter_mut().filter(|c| c.lock_expired()) {
        let mut tx = state.db.tenant_tx(c.tenant()).await?;
        signin::release_expired_lock(&mut tx, c.user_id, &meta).await?;
        tx.commit().await?;
        c.locked_until = None;
        c.failed_login_count = 0;
    }

    // Verify against every candidate (at least one hash, real or dummy).
    if candidates.iter().all(|c| c.password_hash.is_none()) {
        state.passwords.verify(&input.password, None).await;
    }
    let mut checked = Vec::with_capacity(candidates.len());
    for c in candidates {
        let verified = match &c.password_hash {
            Some(hash) => state.passwords.verify(&input.password, Some(hash)).await,
            None => Verified::No,
        };
        checked.push((c, verified));
    }
    let matches: Vec<&(Candidate, Verified)> = checked.iter().filter(|(c, v)| v.ok() && refusal(c).is_none()).collect();

    match matches.as_slice() {
        [] => {
            fail_login(&state, &email, &checked, &meta).await?;
            fail_account(&state, "login", &email).await;
            Err(ApiError::invalid_credentials())
        }
        [(c, verified)] => sign_in(&state, c, *verified, &input.password, &email, &meta)
            .await
            .map(ApiJson),
        several => {
            let mut tx = state.db.anonymous_tx().await?;
            for (c, _) in several {
                let attempt = Attempt {
                    tenant: Some(c.tenant()),
                    user: Some(c.user_id),
                    email: &email,
                    method: Method::Password,
                    success: false,
                    reason: Some("tenant_choice_required"),
                };
                signin::record_attempt(&mut tx, attempt, &meta).await?;
            }
            tx.commit().await?;
            let tenants: Vec<TenantChoice> = several
                .iter()
                .map(|(c, _)| TenantChoice {
                    slug: c.tenant_slug.clone(),
                    name: c.tenant_name.clone(),
                })
                .collect();
            Err(ApiError::Conflict {
                detail: "This email has accounts in several tenants; choose one with tenant_slug".into(),
                extra: Some(json!({ "tenants": tenants })),
            })
        }
    }
}

/// Records a failed login: counts wrong passwords toward lockout, notes refusals.
async fn fail_login(
    state: &AppState,
    email: &str,
    checked: &[(Candidate, Verified)],
    meta: &ClientMeta,
) -> ApiResult<()> {
    if checked.is_empty() {
        signin::record_anonymous_attempt(state, email, "unknown_account", meta).await?;
        return Ok(());
    }
    for (c, verified) in checked {
        let mut tx = state.db.tenant_tx(c.tenant()).await?;
        match (refusal(c), verified.ok()) {
            (None, false) => {
                let reason = if c.password_hash.is_some() {
                    "invalid_password"
                } else {
                    "no_password"
                };
                signin::register_failure(state, &mut tx, c.user_id, Method::Password, reason, meta).await?;
            }
            (reason, _) => {
                let attempt = Attempt {
                    tenant: Some(c.tenant()),
                    user: Some(c.user_id),
                    email,
                    method: Method::Password,
                    success: false,
                    reason: reason.or(Some("invalid_password")),
                };
                signin::record_attempt(&mut tx, attempt, meta).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(())
}

/// A correct password for one eligible account: upgrade a legacy hash, then
/// either issue tokens or, with MFA on, an `mfa_token`.
async fn sign_in(
    state: &AppState,
    c: &Candidate,
    verified: Verified,
    password: &str,
    email: &str,
    meta: &ClientMeta,
) -> ApiResult<LoginResponse> {
    let new_hash = match verified {
        Verified::YesNeedsRehash => Some(state.passwords.hash(password).await),
        _ => None,
    };
    let mut tx = state.db.tenant_tx(c.tenant()).await?;
    if let (Some(new), Some(old)) = (&new_hash, &c.password_hash) {
        // Only if unchanged meanwhile; a concurrent password change wins.
        accounts::rehash_password(&mut tx, c.user_id, new, old).await?;
    }
    if c.mfa_enabled {
        // The failure count is not reset until the second factor succeeds, so
        // password successes cannot be interleaved to dodge the TOTP lockout.
        let attempt = Attempt {
            tenant: Some(c.tenant()),
            user: Some(c.user_id),
            email,
            method: Method::Password,
            success: true,
            reason: Some("mfa_required"),
        };
        signin::record_attempt(&mut tx, attempt, meta).await?;
        tx.commit().await?;
        let (mfa_token, expires_in) = state.jwt.issue(
            MFA_AUDIENCE,
            c.user_id,
            c.tenant_id,
            Uuid::new_v4(),
            MFA_TOKEN_TTL_SECS,
            None,
        );
        return Ok(LoginResponse::Mfa(MfaChallenge {
            mfa_required: true,
            mfa_token,
            expires_in,
        }));
    }
    signin::register_success(&mut tx, c.user_id, email, Method::Password, meta).await?;
    let tokens = finish_sign_in(state, tx, c.user_id, AuthMethod::Password, meta).await?;
    Ok(LoginResponse::Tokens(Box::new(tokens)))
}

/// Completes an MFA sign-in with a TOTP code (or a recovery code).
#[utoipa::path(post, path = "/mfa/verify", tag = "auth", request_body = MfaVerifyRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Invalid or expired MFA token, or wrong code"),
        (status = 429, description = "Rate limited")))]
pub async fn mfa_verify(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<MfaVerifyRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    limit_ip(&state, "mfa", &meta).await?;
    let claims = state
        .jwt
        .verify(input.mfa_token.trim(), MFA_AUDIENCE)
        .ok_or_else(|| ApiError::Unauthorized("Invalid or expired MFA token".into()))?;
    let account = claims.sub.to_string();
    check_account(&state, "mfa", &account).await?;
    let tenant = TenantId::from_trusted(claims.tid);
    let mut tx = state.db.tenant_tx(tenant).await?;
    signin::release_expired_lock(&mut tx, claims.sub, &meta).await?;
    let user = repo::lock_mfa_user(&mut tx, claims.sub).await?;
    let Some(user) = user else {
        return Err(ApiError::invalid_credentials());
    };
    let secret = match (
        &user.totp_secret_enc,
        user.user_active && user.tenant_active && user.mfa_enabled && !user.locked,
    ) {
        (Some(sealed), true) => state
            .secrets
            .open(sealed, &totp::seal_context(tenant, claims.sub))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("TOTP seed of {} does not open: {e}", claims.sub)))?,
        _ => {
            let attempt = Attempt {
                tenant: Some(tenant),
                user: Some(claims.sub),
                email: &user.email,
                method: Method::Totp,
                success: false,
                reason: Some(if user.locked { "locked" } else { "not_allowed" }),
            };
            signin::record_attempt(&mut tx, attempt, &meta).await?;
            tx.commit().await?;
            return Err(ApiError::invalid_credentials());
        }
    };

    match totp::verify_factor(&secret, &input.code, user.totp_last_step, &user.recovery_codes) {
        None => {
            signin::register_failure(&state, &mut tx, claims.sub, Method::Totp, "invalid_code", &meta).await?;
            tx.commit().await?;
            fail_account(&state, "mfa", &account).await;
            Err(ApiError::Unauthorized("Invalid authentication code".into()))
        }
        Some(factor) => {
            match factor {
                Factor::Totp(step) => {
                    accounts::spend_totp_step(&mut tx, claims.sub, step).await?;
                }
                Factor::Recovery(left) => {
                    accounts::set_recovery_codes(&mut tx, claims.sub, &left).await?;
                    let details = json!({"remaining": left.len()});
                    security::record_event(
                        &mut tx,
                        tenant,
                        Some(claims.sub),
                        kind::RECOVERY_CODE_USED,
                        details,
                        &meta,
                    )
                    .await?;
                }
            }
            signin::register_success(&mut tx, claims.sub, &user.email, Method::Totp, &meta).await?;
            Ok(ApiJson(
                finish_sign_in(&state, tx, claims.sub, AuthMethod::Mfa, &meta).await?,
            ))
        }
    }
}
