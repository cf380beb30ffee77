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
    AuthCtx, Authz,
    jwt::Actor,
    model::{ListQuery, LoginAttemptView, SecurityEventView},
};
use crate::{
    app::AppState,
    auth::session::{TenantSummary, UserSummary, load_user_summary},
    db::TenantTx,
    http::{
        ApiResult,
        extract::{ApiJson, ApiQuery},
    },
    pagination::{Page, PageParams},
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
pub async fn auth_status(Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>) -> ApiResult<ApiJson<AuthStatus>> {
    let user = load_user_summary(&mut tx, ctx.user_id).await?;
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
    let page = own_rows(
        &mut tx,
        &ctx,
        "login_attempts",
        "id, email, ip_address, user_agent, method, success, reason, created_at",
        &q.page,
    )
    .await?;
    Ok(ApiJson(page))
}

/// The caller's security events (failures, locks, password and MFA changes), newest first.
#[utoipa::path(get, path = "/security-events", tag = "auth", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<SecurityEventView>), (status = 401, description = "Not authenticated")))]
pub async fn security_events(
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<SecurityEventView>>> {
    let page = own_rows(
        &mut tx,
        &ctx,
        "security_events",
        "id, event_type, details, ip_address, user_agent, created_at",
        &q.page,
    )
    .await?;
    Ok(ApiJson(page))
}

/// A page of the caller's own rows of a per-user log table, newest first.
/// `table` and `columns` are fixed fragments from this module, never input.
pub(crate) async fn own_rows<T>(
    tx: &mut TenantTx,
    ctx: &AuthCtx,
    table: &'static str,
    columns: &'static str,
    page: &PageParams,
) -> Result<Page<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE tenant_id = $1 AND user_id = $2"
    )))
    .bind(ctx.tenant_id.get())
    .bind(ctx.user_id)
    .fetch_one(&mut **tx)
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM {table} WHERE tenant_id = $1 AND user_id = $2 \
         ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
    )))
    .bind(ctx.tenant_id.get())
    .bind(ctx.user_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok(page.wrap(items, total))
}
