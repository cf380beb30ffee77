//! `/api/v1/auth` routes: the route table, plus the caller's status, sign-in
//! history and security events.

// The console calls these handlers as functions: one sign-in code path.
pub(crate) mod accounts;
pub(crate) mod login;
pub(crate) mod mfa;
pub(crate) mod passwords;
pub(crate) mod reauth;
pub(crate) mod sessions;
pub(crate) mod unlock;

use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    Authz, AuthzRead,
    jwt::Actor,
    model::{ListQuery, LoginAttemptView, SecurityEventView},
    repo,
};
use crate::{
    app::AppState,
    auth::session::{TenantSummary, UserSummary, read_user_summary},
    http::{
        ApiResult,
        extract::{ApiJson, ApiQuery},
    },
    pagination::Page,
    rbac::perm,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(login::mfa_verify))
        .routes(routes!(sessions::refresh))
        .routes(routes!(sessions::logout))
        .routes(routes!(accounts::create_user))
        .routes(routes!(accounts::verify_email))
        .routes(routes!(accounts::accept_invitation))
        .routes(routes!(passwords::change_password))
        .routes(routes!(passwords::request_password_reset))
        .routes(routes!(passwords::confirm_password_reset))
        .routes(routes!(unlock::unlock_account))
        .routes(routes!(mfa::totp_setup))
        .routes(routes!(mfa::totp_enable))
        .routes(routes!(mfa::totp_disable))
        .routes(routes!(auth_status))
        .routes(routes!(login_history))
        .routes(routes!(security_events))
}

/// Credentials (password, MFA) are the user's own: a super admin acting as
/// the user may not change them.
fn own_credentials(ctx: &super::AuthCtx) -> ApiResult<()> {
    match ctx.impersonator {
        Some(_) => Err(crate::http::ApiError::forbidden(
            "Credentials cannot be changed while impersonating",
        )),
        None => Ok(()),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthStatus {
    pub authenticated: bool,
    pub user: UserSummary,
    pub tenant: TenantSummary,
    pub permissions: Vec<&'static str>,
    pub impersonating: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonator: Option<ImpersonatorView>,
    pub session_id: Uuid,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImpersonatorView {
    pub id: Uuid,
    pub email: Option<String>,
}

impl From<Actor> for ImpersonatorView {
    fn from(a: Actor) -> Self {
        Self {
            id: a.sub,
            email: a.email,
        }
    }
}

/// Who the caller is, in which tenant, with which permissions.
#[utoipa::path(get, path = "/status", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = AuthStatus), (status = 401, description = "Not authenticated")))]
pub async fn auth_status(
    AuthzRead { ctx, read, .. }: AuthzRead<perm::Authenticated>,
) -> ApiResult<ApiJson<AuthStatus>> {
    let user = read_user_summary(&read, ctx.user_id).await?;
    Ok(ApiJson(AuthStatus {
        authenticated: true,
        user,
        tenant: TenantSummary {
            id: ctx.tenant_id.get(),
            slug: ctx.tenant_slug.clone(),
            name: ctx.tenant_name.clone(),
        },
        permissions: ctx.permissions.iter().map(|p| p.as_str()).collect(),
        impersonating: ctx.impersonator.is_some(),
        impersonator: ctx.impersonator.clone().map(Into::into),
        session_id: ctx.session_id,
    }))
}

/// The caller's sign-in attempts, newest first.
#[utoipa::path(get, path = "/history", tag = "auth", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<LoginAttemptView>), (status = 401, description = "Not authenticated")))]
pub async fn login_history(
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<LoginAttemptView>>> {
    let page = repo::own_login_attempts(&mut tx, &ctx, &q.page).await?;
    Ok(ApiJson(page))
}

/// The caller's security events (failures, locks, password and MFA changes), newest first.
#[utoipa::path(get, path = "/security-events", tag = "auth", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<SecurityEventView>), (status = 401, description = "Not authenticated")))]
pub async fn security_events(
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<SecurityEventView>>> {
    let page = repo::own_security_events(&mut tx, &ctx, &q.page).await?;
    Ok(ApiJson(page))
}
