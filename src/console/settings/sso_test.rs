//! "Test sign-in" on `/admin/sso/{provider}`: runs the provider's flow from
//! the console (`oauth::test_sign_in`) and reports what came back, without
//! signing anyone in. The provider returns to the ordinary `/auth/callback`,
//! which [`callback`] hands to the test when this browser started one (its
//! cookie holds the state), and to the sign-in otherwise.

use axum::{
    extract::{FromRequestParts, Path, Query, Request, State},
    http::{StatusCode, header},
    response::Response,
};
use serde::Serialize;

use super::{
    fixable, refused,
    sso::{Admin, ProviderForm, configured, context, provider_view, show, title},
};
use crate::{
    app::AppState,
    console::{
        render::{self, Frame},
        see_other,
        session::{clear_cookie, cookie, redirect_with, set_cookie},
        signin,
    },
    http::{ApiError, extract::ClientMeta},
    oauth::{
        model::{CallbackBody, Provider},
        test_sign_in::{self, TestReport},
    },
};

/// Holds `{provider}.{state}` of a test sign-in started in this browser.
const TEST_COOKIE: &str = "tenantry_sso_test";

/// Starts a test sign-in: the browser goes to the provider, with a cookie
/// that routes its return to [`callback`]'s test branch.
pub async fn test_submit(State(state): State<AppState>, mut me: Admin, Path(provider): Path<String>) -> Response {
    let c = match context(&state, &mut me, &provider).await {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let Some(row) = c.row.clone() else {
        return see_other(&format!("/admin/sso/{}", c.provider.as_str()));
    };
    let tenant = me.authz.ctx.tenant_id;
    drop(me.authz.tx);
    match test_sign_in::start(&state, tenant, &row).await {
        Ok(start) => {
            let value = format!("{}.{}", c.provider.as_str(), start.state);
            redirect_with(&start.authorization_url, [set_cookie(&state, TEST_COOKIE, &value, 600)])
        }
        Err(e) if fixable(&e) => {
            let status = e.status();
            let errors = vec![format!("Test sign-in failed: {e}")];
            show(status, provider_view(c, ProviderForm::from_row(&row), errors, None))
        }
        Err(e) => refused(e),
    }
}

#[derive(Serialize)]
struct TestView {
    frame: Frame,
    key: &'static str,
    title: &'static str,
    report: Option<TestReport>,
    error: Option<String>,
}

/// `/auth/callback`: the return of a test sign-in this browser started (its
/// cookie names the same state), else an ordinary sign-in.
pub async fn callback(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let body: CallbackBody = Query::try_from_uri(&parts.uri).map(|Query(b)| b).unwrap_or_default();
    let pending = cookie(&parts.headers, TEST_COOKIE).and_then(|v| {
        let (provider, state_token) = v.split_once('.')?;
        let same = body
            .state
            .as_deref()
            .is_some_and(|s| crate::crypto::ct_eq(s.as_bytes(), state_token.as_bytes()));
        same.then(|| Provider::from_path(provider).ok()).flatten()
    });
    if let Some(provider) = pending {
        let me = match Admin::from_request_parts(&mut parts, &state).await {
            Ok(me) => me,
            Err(res) => return res,
        };
        let mut res = test_return(&state, me, provider, body).await;
        res.headers_mut()
            .append(header::SET_COOKIE, clear_cookie(&state, TEST_COOKIE));
        return res;
    }
    let meta = ClientMeta::from_request_parts(&mut parts, &state)
        .await
        .unwrap_or_else(|never| match never {});
    signin::sso_callback(State(state), meta, parts.headers, Query(body)).await
}

async fn test_return(state: &AppState, me: Admin, provider: Provider, body: CallbackBody) -> Response {
    let frame = me.frame("/admin/sso");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let row = match configured(&mut tx, ctx.tenant_id, provider).await {
        Ok(Some(row)) => row,
        Ok(None) => return see_other("/admin/sso"),
        Err(e) => return refused(e),
    };
    drop(tx);
    let (report, error, status) = match test_sign_in::finish(state, ctx.tenant_id, &row, body, &ctx.meta).await {
        Ok(report) => (Some(report), None, StatusCode::OK),
        Err(ApiError::Internal(e)) => return render::api_error(ApiError::Internal(e)),
        Err(e) => (None, Some(e.to_string()), e.status()),
    };
    let view = TestView {
        frame,
        key: provider.as_str(),
        title: title(provider),
        report,
        error,
    };
    render::page(status, "settings_sso_test.html", view)
}
