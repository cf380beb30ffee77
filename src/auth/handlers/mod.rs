//! `/api/v1/auth` routes.

use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Authz, jwt::Actor};
use crate::{
    app::AppState,
    auth::session::{TenantSummary, UserSummary, load_user_summary},
    http::{ApiResult, extract::ApiJson},
    rbac::perm,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(auth_status))
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
        Self { id: a.sub, email: a.email }
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
        tenant: TenantSummary { id: ctx.tenant_id.0, slug: ctx.tenant_slug.clone(), name: ctx.tenant_name.clone() },
        permissions: ctx.permissions.iter().map(|p| p.as_str()).collect(),
        impersonating: ctx.impersonator.is_some(),
        impersonator: ctx.impersonator.clone().map(Into::into),
        session_id: ctx.session_id,
    }))
}
