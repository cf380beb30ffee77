//! "Act as": a super admin starts an impersonation session (the handler of
//! `POST /auth/impersonate`, with its required reason, audit rows in both
//! chains, security event and email to the user) and the browser switches to
//! it. The super admin's own console cookie is kept aside in an HttpOnly
//! cookie; "End impersonation" revokes the impersonation session and, when
//! the kept cookie belongs to the impersonator, restores it.

use axum::{
    Form,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Platform, refused};
use crate::{
    app::AppState,
    auth::{
        impersonation::{self, ImpersonateRequest},
        jwt::Actor,
    },
    console::session::{
        CONSOLE_AUDIENCE, SESSION_COOKIE, clear_cookie, cookie, redirect_with, session_claims, session_cookie,
        set_cookie,
    },
    db::TenantId,
    http::{ApiError, extract::ApiJson},
};

/// The super admin's own console cookie while they act as someone else.
pub const RETURN_COOKIE: &str = "tenantry_return";
/// Where an impersonation starts: the user's own home.
const IMPERSONATION_HOME: &str = "/account";

#[derive(Deserialize)]
pub struct ActAsForm {
    /// Empty: the tenant's (first active) administrator.
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    reason: String,
}

pub async fn act_as_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    me: Platform,
    Path(tenant): Path<Uuid>,
    Form(form): Form<ActAsForm>,
) -> Response {
    let user_id = match form.user_id.trim() {
        "" => None,
        raw => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => return refused(ApiError::invalid("user", "is not one of the listed users")),
        },
    };
    let request = ImpersonateRequest {
        tenant_id: tenant,
        user_id,
        reason: form.reason,
    };
    let (Some(own), Some(claims)) = (cookie(&headers, SESSION_COOKIE), session_claims(&state, &headers)) else {
        return refused(ApiError::Unauthorized("Sign in again".into()));
    };
    let started = match me.handle().await {
        Ok(sa) => impersonation::impersonate(State(state.clone()), sa, ApiJson(request)).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(ApiJson(tokens)) => {
            let left = claims.exp - OffsetDateTime::now_utc().unix_timestamp();
            redirect_with(
                IMPERSONATION_HOME,
                [
                    session_cookie(&state, &tokens),
                    set_cookie(&state, RETURN_COOKIE, &own, left.max(0)),
                ],
            )
        }
        Err(e) => refused(e),
    }
}

/// After an impersonation of a user in `tenant` by `impersonator` ended: back
/// to the impersonator's own console session (kept in [`RETURN_COOKIE`]) on
/// the tenant's page, when that cookie still verifies and is theirs. `None`:
/// the caller signs the browser out instead.
pub fn return_to_self(
    state: &AppState,
    headers: &HeaderMap,
    impersonator: &Actor,
    tenant: TenantId,
) -> Option<Response> {
    let own = cookie(headers, RETURN_COOKIE)?;
    let claims = state.jwt.verify(&own, CONSOLE_AUDIENCE)?;
    if claims.sub != impersonator.sub || claims.act.is_some() {
        return None;
    }
    let left = claims.exp - OffsetDateTime::now_utc().unix_timestamp();
    Some(redirect_with(
        &format!("/platform/tenants/{}?done=impersonation_ended", tenant.get()),
        [
            set_cookie(state, SESSION_COOKIE, &own, left.max(0)),
            clear_cookie(state, RETURN_COOKIE),
        ],
    ))
}
