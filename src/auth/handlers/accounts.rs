//! `POST /create-user` (admin), `POST /verify-email` and `POST /accept-invitation`.
//!
//! Emails on create-user: without a password, a welcome email with a
//! set-password link (a 7-day password-reset token; setting the password also
//! verifies the address, since the link proved the mailbox). With a password,
//! an email-verification link (24 h) and, unless `send_welcome_email` is false,
//! a welcome email.

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use time::OffsetDateTime;

use super::passwords::{TOKEN_SCOPE, consume_link, invalid_token};
use crate::auth::repo;
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        Authz,
        budget::limit_ip,
        model::{AcceptInvitationRequest, CreateUserRequest, VerifyEmailRequest},
        session::{AuthMethod, TokenResponse, start_session, token_tenant},
        signin::{self, Method},
        tokens::{self, EMAIL_VERIFICATION_TTL, TokenKind, WELCOME_SET_PASSWORD_TTL},
    },
    db::TenantTx,
    email::{self, EmailTemplate},
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ClientMeta},
    },
    rbac::perm,
    users::{
        accounts::{self, NewUser, RoleGrant, hash_new_password},
        model::UserView,
    },
};

/// Queues an email-verification link for `user`.
pub async fn send_verification(tx: &mut TenantTx, user: &UserView) -> Result<(), sqlx::Error> {
    let token = tokens::issue(tx, TokenKind::EmailVerification, user.id, EMAIL_VERIFICATION_TTL).await?;
    let context = json!({"first_name": user.first_name, "token": token,
        "expires_hours": EMAIL_VERIFICATION_TTL.whole_hours()});
    let tenant = tx.tenant();
    email::enqueue(tx, tenant, &user.email, EmailTemplate::EmailVerification, context)
        .await
        .map(|_| ())
}

/// Creates a user in the caller's tenant.
#[utoipa::path(post, path = "/create-user", tag = "auth", security(("bearer" = ["users:create"])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserView),
        (status = 403, description = "Missing users:create, or the roles give permissions the caller lacks"),
        (status = 409, description = "Duplicate email, or the tenant's user limit is reached"),
        (status = 422, description = "Invalid field, unknown role or weak password")))]
pub async fn create_user(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::UsersCreate>,
    ApiJson(input): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    let email = input.email.trim().to_lowercase();
    let password_hash = match &input.password {
        Some(p) => Some(hash_new_password(&state, "password", p, Some(&email)).await?),
        None => None,
    };
    let has_password = password_hash.is_some();
    let new = NewUser {
        email,
        first_name: input.first_name,
        last_name: input.last_name,
        password_hash,
        role_names: input.role_names.unwrap_or_default(),
        email_verified: false,
    };
    let user = accounts::create_user(&mut tx, &ctx.actor(), RoleGrant::ByCaller(&ctx.permissions), new).await?;
    let tenant = ctx.tenant_id;
    if !has_password {
        let token = tokens::issue(&mut tx, TokenKind::PasswordReset, user.id, WELCOME_SET_PASSWORD_TTL).await?;
        let context = json!({"first_name": user.first_name, "token": token,
            "expires_hours": WELCOME_SET_PASSWORD_TTL.whole_hours()});
        email::enqueue(&mut tx, tenant, &user.email, EmailTemplate::Welcome, context).await?;
    } else {
        send_verification(&mut tx, &user).await?;
        if input.send_welcome_email.unwrap_or(true) {
            let context = json!({"first_name": user.first_name});
            email::enqueue(&mut tx, tenant, &user.email, EmailTemplate::Welcome, context).await?;
        }
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(user)))
}

/// Confirms an email address with the token from the verification email.
#[utoipa::path(post, path = "/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 204, description = "Email verified"), (status = 400, description = "Invalid, used or expired token"),
        (status = 429, description = "Rate limited (per IP)")))]
pub async fn verify_email(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<VerifyEmailRequest>,
) -> ApiResult<StatusCode> {
    limit_ip(&state, TOKEN_SCOPE, &meta).await?;
    let token = input.token.trim();
    let kind = TokenKind::EmailVerification;
    let (tenant, mut tx, user) = consume_link(&state, kind, token).await?;
    accounts::mark_email_verified(&mut tx, user).await?;
    let actor = AuditActor::user(user, meta);
    audit::record(
        &mut tx,
        tenant,
        &actor,
        AuditEvent::new(AuditAction::UserEmailVerified, "user", user),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn open_invitation(tx: &mut TenantTx, token: &str) -> Result<repo::Invitation, ApiError> {
    let inv = repo::lock_invitation(tx, token).await?.ok_or_else(invalid_token)?;
    if inv.accepted_at.is_some() || inv.expires_at <= OffsetDateTime::now_utc() || !inv.tenant_active {
        return Err(invalid_token());
    }
    Ok(inv)
}

/// Accepts an invitation: creates the account with the invited roles and signs it in.
#[utoipa::path(post, path = "/accept-invitation", tag = "auth", request_body = AcceptInvitationRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Invalid, accepted or expired invitation"),
        (status = 409, description = "The account already exists, or the tenant is full"),
        (status = 422, description = "Password violates the policy, or a name holds control characters"),
        (status = 429, description = "Rate limited (per IP)")))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<AcceptInvitationRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    limit_ip(&state, TOKEN_SCOPE, &meta).await?;
    let token = input.token.trim();
    let tenant = token_tenant(&state, "invitation", token)
        .await?
        .ok_or_else(invalid_token)?;
    let email = {
        let mut tx = state.db.tenant_tx(tenant).await?;
        open_invitation(&mut tx, token).await?.email
    };
    let hash = hash_new_password(&state, "password", &input.password, Some(&email)).await?;

    let mut tx = state.db.tenant_tx(tenant).await?;
    let inv = open_invitation(&mut tx, token).await?;
    let actor = AuditActor {
        user_id: None,
        impersonator_id: None,
        meta: meta.clone(),
        principal: None,
    };
    let new = NewUser {
        email: inv.email,
        first_name: input.first_name.unwrap_or_default(),
        last_name: input.last_name.unwrap_or_default(),
        password_hash: Some(hash),
        role_names: inv.role_names,
        // The token arrived by email: the address is proven.
        email_verified: true,
    };
    // The roles were checked against the inviter when the invitation was made.
    let user = accounts::create_user(&mut tx, &actor, RoleGrant::Decided, new).await?;
    repo::mark_invitation_accepted(&mut tx, inv.id).await?;
    let actor = AuditActor {
        user_id: Some(user.id),
        ..actor
    };
    audit::record(
        &mut tx,
        tenant,
        &actor,
        AuditEvent::new(AuditAction::InvitationAccepted, "invitation", inv.id).new_values(json!({"user_id": user.id})),
    )
    .await?;
    signin::register_success(&mut tx, user.id, &user.email, Method::Password, &meta).await?;
    let tokens = start_session(&state, &mut tx, user.id, AuthMethod::Invitation, &meta, None).await?;
    let event = AuditEvent::new(AuditAction::SessionCreated, "session", tokens.session_id)
        .new_values(json!({"auth_method": AuthMethod::Invitation.as_str()}));
    audit::record(&mut tx, tenant, &actor, event).await?;
    tx.commit().await?;
    Ok(ApiJson(tokens))
}
