//! Invitations: an email with a single-use link that creates the account with
//! the invited roles when accepted. The roles are checked against the inviter
//! here ("nobody grants what they do not hold"); acceptance carries out that
//! decision without checking again.

use axum::http::StatusCode;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    model::{InvitationView, InviteRequest},
    repo,
};
use crate::{
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    crypto::random_token,
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
    if repo::email_taken(&mut tx, &email).await? {
        return Err(ApiError::conflict(
            "A user with this email already exists in this tenant",
        ));
    }
    // Early answer for a full tenant; acceptance enforces the limit under lock.
    let (active, max_users) = repo::seats(&mut tx, ctx.tenant_id).await?;
    if active >= i64::from(max_users) {
        return Err(ApiError::conflict(format!(
            "The tenant's user limit ({max_users}) is reached"
        )));
    }
    let replaced = repo::delete_open_invitation(&mut tx, &email).await?;
    let token = random_token();
    let id = Uuid::new_v4();
    let new = repo::NewInvitation {
        id,
        email: &email,
        role_names: &role_names,
        token: &token,
        invited_by: ctx.user_id,
        expires_at: OffsetDateTime::now_utc() + INVITATION_TTL,
    };
    let invitation = repo::insert_invitation(&mut tx, ctx.tenant_id, &new).await?;
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
