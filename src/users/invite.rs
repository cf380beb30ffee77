//! Invitations: an email with a single-use link that creates the account with
//! the invited roles when accepted. The roles are checked against the inviter
//! here ("nobody grants what they do not hold"); acceptance carries out that
//! decision without checking again.

use axum::http::StatusCode;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::model::{InvitationView, InviteRequest};
use crate::{
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    crypto::{random_token, token_hash},
    email::{self, EmailTemplate},
    http::{ApiError, ApiResult, extract::ApiJson},
    rbac::{grants, perm},
    users::accounts::Email,
};

/// How long an invitation stays open.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// Invites someone by email. Re-inviting replaces the open invitation (the old
/// link stops working); an existing member of the tenant → 409.
#[utoipa::path(post, path = "/invite", tag = "users", security(("bearer" = ["users:invite"])), request_body = InviteRequest,
    responses((status = 201, body = InvitationView),
        (status = 403, description = "Missing users:invite, or the roles give permissions the caller lacks"),
        (status = 409, description = "Already a member, or no free seat"),
        (status = 422, description = "Invalid email or unknown role")))]
pub async fn invite_user(
    Authz { ctx, mut tx, .. }: Authz<perm::UsersInvite>,
    ApiJson(input): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, ApiJson<InvitationView>)> {
    let email = Email::parse(&input.email)
        .map_err(|msg| ApiError::invalid("email", msg))?
        .into_string();
    let roles = grants::resolve_roles(&mut tx, "role_names", input.role_names.as_deref().unwrap_or_default()).await?;
    grants::ensure_can_grant(&ctx.permissions, grants::permissions_of(&roles))?;
    let role_names: Vec<String> = roles.into_iter().map(|r| r.name).collect();
    let member: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1)")
        .bind(&email)
        .fetch_one(&mut *tx)
        .await?;
    if member {
        return Err(ApiError::conflict(
            "A user with this email already exists in this tenant",
        ));
    }
    // Early answer for a full tenant; acceptance enforces the limit under lock.
    let (active, max_users): (i64, i32) =
        sqlx::query_as("SELECT (SELECT count(*) FROM users WHERE is_active), max_users FROM tenants WHERE id = $1")
            .bind(ctx.tenant_id.get())
            .fetch_one(&mut *tx)
            .await?;
    if active >= i64::from(max_users) {
        return Err(ApiError::conflict(format!(
            "The tenant's user limit ({max_users}) is reached"
        )));
    }
    let replaced: Option<Uuid> =
        sqlx::query_scalar("DELETE FROM invitations WHERE lower(email) = $1 AND accepted_at IS NULL RETURNING id")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
    let token = random_token();
    let id = Uuid::new_v4();
    let invitation: InvitationView = sqlx::query_as(
        "INSERT INTO invitations (tenant_id, id, email, role_names, token_hash, invited_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, email, role_names, invited_by, expires_at, created_at",
    )
    .bind(ctx.tenant_id.get())
    .bind(id)
    .bind(&email)
    .bind(&role_names)
    .bind(token_hash(&token))
    .bind(ctx.user_id)
    .bind(OffsetDateTime::now_utc() + INVITATION_TTL)
    .fetch_one(&mut *tx)
    .await?;
    let inviter = format!("{} {}", ctx.first_name, ctx.last_name).trim().to_string();
    // The email module turns the token into `{FRONTEND_URL}/accept-invitation?token=…`.
    email::enqueue(
        &mut tx,
        ctx.tenant_id,
        &email,
        EmailTemplate::Invitation,
        json!({"token": token, "inviter_name": if inviter.is_empty() { ctx.email.clone() } else { inviter },
               "role_names": role_names, "expires_hours": INVITATION_TTL.whole_hours()}),
    )
    .await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::InvitationCreated, "invitation", id)
            .old(replaced.map(|r| json!({"replaced_invitation_id": r})))
            .new_values(json!({"email": email, "role_names": invitation.role_names,
                "expires_at": invitation.expires_at.unix_timestamp()})),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(invitation)))
}
