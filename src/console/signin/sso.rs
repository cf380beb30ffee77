//! Single sign-on from the sign-in page: the organisation's provider buttons,
//! `/login/sso` (start) and `/auth/callback` (the provider's return), each
//! through the API's OIDC flow handlers.

use axum::{
    Form,
    extract::{Query, State},
    http::HeaderMap,
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::super::session::{self, Csrf, clear_cookie, redirect_with, set_cookie};
use super::{LoginView, clean_slug, signed_in};
use crate::{
    app::AppState,
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery, ClientMeta},
    },
    oauth::{
        flow,
        model::{CallbackBody, LoginQuery, Provider},
        repo,
    },
};

/// Holds provider, organisation and state between SSO start and callback.
const SSO_COOKIE: &str = "tenantry_sso";

#[derive(Serialize)]
pub(super) struct ProviderButton {
    id: &'static str,
    label: &'static str,
}

/// The SSO buttons of the organisation `slug` (none when unknown or inactive).
pub(super) async fn providers(state: &AppState, slug: &str) -> Vec<ProviderButton> {
    if slug.is_empty() {
        return Vec::new();
    }
    let found = async {
        let Some(tenant) = flow::tenant_by_slug(state, slug).await?.filter(|t| t.is_active) else {
            return Ok::<_, ApiError>(Vec::new());
        };
        let mut tx = state.db.tenant_tx(tenant.tenant()).await?;
        let mut out = Vec::new();
        for (provider, id, label) in [
            (Provider::Microsoft, "microsoft", "Sign in with Microsoft"),
            (Provider::Google, "google", "Sign in with Google"),
        ] {
            if repo::enabled(&mut tx, tenant.id, provider).await?.is_some() {
                out.push(ProviderButton { id, label });
            }
        }
        Ok(out)
    };
    found.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not list the organisation's identity providers");
        Vec::new()
    })
}

#[derive(Deserialize)]
pub struct SsoForm {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    organisation: String,
}

/// Starts the organisation's OIDC sign-in and sends the browser to its provider.
pub async fn sso_start(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Form(form): Form<SsoForm>,
) -> Response {
    let slug = clean_slug(&form.organisation);
    let path = ApiPath((form.provider.clone(), slug.clone()));
    match flow::oauth_login(
        State(state.clone()),
        meta,
        path,
        ApiQuery(LoginQuery { redirect_uri: None }),
    )
    .await
    {
        Ok(ApiJson(start)) if Provider::from_path(&form.provider).is_ok() => {
            // Binds the state to this browser: a callback carrying someone
            // else's state (login CSRF) is refused.
            let value = format!("{}.{slug}.{}", form.provider, start.state);
            let cookie = set_cookie(&state, SSO_COOKIE, &value, 600);
            redirect_with(&start.authorization_url, [cookie])
        }
        _ => {
            let csrf = Csrf::for_request(&state, &headers);
            let mut view = LoginView::new(&state, &csrf, "", &slug).await;
            view.error = Some("Single sign-on is not available for this organisation.".into());
            view.show(&csrf, axum::http::StatusCode::NOT_FOUND)
        }
    }
}

/// Where the provider sends the browser back (`{FRONTEND_URL}/auth/callback`).
pub async fn sso_callback(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Query(body): Query<CallbackBody>,
) -> Response {
    let pending = session::cookie(&headers, SSO_COOKIE);
    let parsed = pending.as_deref().and_then(|v| {
        let (provider, rest) = v.split_once('.')?;
        let (slug, state_token) = rest.split_once('.')?;
        Some((provider.to_string(), slug.to_string(), state_token.to_string()))
    });
    let same_browser = parsed.as_ref().is_some_and(|(_, _, s)| {
        body.state
            .as_deref()
            .is_some_and(|b| crate::crypto::ct_eq(b.as_bytes(), s.as_bytes()))
    });
    let (Some((provider, slug, _)), true) = (parsed, same_browser) else {
        return redirect_with("/login?done=expired", [clear_cookie(&state, SSO_COOKIE)]);
    };
    let path = ApiPath((provider, slug.clone()));
    match flow::oauth_callback(State(state.clone()), meta, path, ApiJson(body)).await {
        Ok(ApiJson(tokens)) => signed_in(&state, &tokens, Some(SSO_COOKIE)),
        Err(e) => {
            let csrf = Csrf::for_request(&state, &headers);
            let mut view = LoginView::new(&state, &csrf, "", &slug).await;
            let status = e.status();
            view.error = Some(format!("Sign-in with your organisation did not succeed: {e}"));
            let mut res = view.show(&csrf, status);
            res.headers_mut()
                .append(axum::http::header::SET_COOKIE, clear_cookie(&state, SSO_COOKIE));
            res
        }
    }
}
