//! Signing in and out: `/login` (password → tenant choice → MFA), SSO through
//! `/login/sso` and `/auth/callback`, `/logout` and `/end-impersonation`.
//!
//! Each step calls the API handler of the same step, so failures, lockout,
//! rate limits and audit rows are the API's. Messages stay generic: one
//! "Invalid email or password" for every failed password sign-in.

use axum::{
    Form,
    extract::{Query, State},
    http::HeaderMap,
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    render,
    session::{self, Console, Csrf, SESSION_COOKIE, clear_cookie, redirect_with, session_claims, set_cookie},
};
use crate::{
    app::AppState,
    auth::impersonation,
    auth::{
        handlers::{login, sessions},
        model::{LoginRequest, LoginResponse, MfaVerifyRequest, TenantChoice},
        session::TokenResponse,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery, ClientMeta},
    },
    oauth::{
        flow,
        model::{CallbackBody, LoginQuery, Provider},
        repo,
    },
    rbac::perm,
};

/// Holds the token between the password and the code step.
const MFA_COOKIE: &str = "tenantry_mfa";
/// Holds provider, organisation and state between SSO start and callback.
const SSO_COOKIE: &str = "tenantry_sso";
const SIGNED_IN_HOME: &str = "/account";

/// Messages a redirect may ask the sign-in page to show (never free text).
fn notice(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "signed_out" => "You have signed out.",
        "password_set" => "Your password is set. Sign in with it.",
        "expired" => "Your sign-in took too long. Please start again.",
        "impersonation_ended" => "Impersonation ended. Sign in again to continue as yourself.",
        _ => return None,
    })
}

/// An organisation slug as typed: trimmed, lower-case, slug characters only.
pub fn clean_slug(s: &str) -> String {
    let s = s.trim().to_lowercase();
    if !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        s
    } else {
        String::new()
    }
}

#[derive(Serialize)]
struct ProviderButton {
    id: &'static str,
    label: &'static str,
}

/// The SSO buttons of the organisation `slug` (none when unknown or inactive).
async fn providers(state: &AppState, slug: &str) -> Vec<ProviderButton> {
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

#[derive(Serialize)]
struct LoginView {
    csrf: String,
    email: String,
    organisation: String,
    error: Option<String>,
    hint: Option<String>,
    notice: Option<&'static str>,
    providers: Vec<ProviderButton>,
}

impl LoginView {
    async fn new(state: &AppState, csrf: &Csrf, email: &str, organisation: &str) -> Self {
        let organisation = clean_slug(organisation);
        LoginView {
            csrf: csrf.token.clone(),
            email: email.trim().to_string(),
            providers: providers(state, &organisation).await,
            organisation,
            error: None,
            hint: None,
            notice: None,
        }
    }

    fn show(self, csrf: &Csrf, status: axum::http::StatusCode) -> Response {
        csrf.attach(render::page(status, "login.html", self))
    }
}

/// `/`: the console home when signed in, else the sign-in page.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session_claims(&state, &headers) {
        Some(_) => super::see_other(SIGNED_IN_HOME),
        None => super::see_other("/login"),
    }
}

#[derive(Deserialize)]
pub struct LoginPageQuery {
    tenant: Option<String>,
    done: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginPageQuery>,
) -> Response {
    let csrf = Csrf::for_request(&state, &headers);
    let mut view = LoginView::new(&state, &csrf, "", q.tenant.as_deref().unwrap_or_default()).await;
    view.notice = notice(q.done.as_deref());
    view.show(&csrf, axum::http::StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    organisation: String,
}

/// Sets the session cookie and goes to the console.
fn signed_in(state: &AppState, tokens: &TokenResponse, clear: Option<&str>) -> Response {
    let mut cookies = vec![session::session_cookie(state, tokens)];
    cookies.extend(clear.map(|c| clear_cookie(state, c)));
    redirect_with(SIGNED_IN_HOME, cookies)
}

#[derive(Serialize)]
struct TenantPickView<'a> {
    csrf: &'a str,
    email: &'a str,
    tenants: &'a [TenantChoice],
}

pub async fn login_submit(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let csrf = Csrf::for_request(&state, &headers);
    let slug = clean_slug(&form.organisation);
    let request = LoginRequest {
        email: form.email.clone(),
        password: form.password,
        tenant_slug: Some(slug.clone()).filter(|s| !s.is_empty()),
    };
    let mut view = LoginView::new(&state, &csrf, &form.email, &slug).await;
    let status = match login::login(State(state.clone()), meta, ApiJson(request)).await {
        Ok(ApiJson(LoginResponse::Tokens(tokens))) => return signed_in(&state, &tokens, None),
        Ok(ApiJson(LoginResponse::Mfa(challenge))) => {
            let cookie = set_cookie(&state, MFA_COOKIE, &challenge.mfa_token, challenge.expires_in);
            return redirect_with("/login/mfa", [cookie]);
        }
        Err(ApiError::Conflict { extra: Some(extra), .. }) => {
            let tenants: Vec<TenantChoice> = extra["tenants"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    Some(TenantChoice {
                        slug: t["slug"].as_str()?.to_string(),
                        name: t["name"].as_str()?.to_string(),
                    })
                })
                .collect();
            let pick = TenantPickView {
                csrf: &csrf.token,
                email: form.email.trim(),
                tenants: &tenants,
            };
            return csrf.attach(render::ok("login_tenant.html", pick));
        }
        Err(e @ ApiError::RateLimited { .. }) => {
            view.error = Some("Too many attempts. Wait a minute, then try again.".into());
            e.status()
        }
        Err(e @ (ApiError::Unauthorized(_) | ApiError::Validation(_))) => {
            view.error = Some("Invalid email or password.".into());
            view.hint = Some(lockout_hint(&state));
            e.status()
        }
        Err(e) => return render::api_error(e),
    };
    view.show(&csrf, status)
}

/// What to do when sign-in keeps failing (the same for every account).
fn lockout_hint(state: &AppState) -> String {
    let minutes = (state.config.lockout_seconds + 59) / 60;
    format!(
        "After {} failed attempts an account is locked for {minutes} minutes. \
         Wait, or reset your password with \u{201c}Forgot your password?\u{201d} to unlock it now.",
        state.config.max_failed_logins
    )
}

#[derive(Serialize)]
struct MfaView {
    csrf: String,
    error: Option<String>,
}

pub async fn mfa_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session::cookie(&headers, MFA_COOKIE).is_none() {
        return super::see_other("/login?done=expired");
    }
    let csrf = Csrf::for_request(&state, &headers);
    let view = MfaView {
        csrf: csrf.token.clone(),
        error: None,
    };
    csrf.attach(render::ok("login_mfa.html", view))
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn mfa_submit(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some(mfa_token) = session::cookie(&headers, MFA_COOKIE) else {
        return super::see_other("/login?done=expired");
    };
    let request = MfaVerifyRequest {
        mfa_token,
        code: form.code,
    };
    let error = match login::mfa_verify(State(state.clone()), meta, ApiJson(request)).await {
        Ok(ApiJson(tokens)) => return signed_in(&state, &tokens, Some(MFA_COOKIE)),
        Err(ApiError::Unauthorized(m)) if m.contains("MFA token") => {
            return redirect_with("/login?done=expired", [clear_cookie(&state, MFA_COOKIE)]);
        }
        Err(e @ ApiError::RateLimited { .. }) => (e.status(), "Too many attempts. Wait a minute, then try again."),
        Err(e @ ApiError::Unauthorized(_)) => (
            e.status(),
            "That code is not valid. Enter the current code from your app, or one of your recovery codes.",
        ),
        Err(e) => return render::api_error(e),
    };
    let csrf = Csrf::for_request(&state, &headers);
    let view = MfaView {
        csrf: csrf.token.clone(),
        error: Some(format!("{} {}", error.1, lockout_hint(&state))),
    };
    csrf.attach(render::page(error.0, "login_mfa.html", view))
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

/// Ends this session (the same revocation as `POST /api/v1/auth/logout`).
pub async fn logout(State(state): State<AppState>, console: Console<perm::Authenticated>) -> Response {
    if let Err(e) = sessions::logout(console.authz).await {
        return render::api_error(e);
    }
    redirect_with(
        "/login?done=signed_out",
        [
            clear_cookie(&state, SESSION_COOKIE),
            clear_cookie(&state, super::platform::RETURN_COOKIE),
        ],
    )
}

/// Ends an impersonation session (revoked at once, audited in both tenants)
/// and returns the super admin to their own console session when the browser
/// kept it (see `platform::return_to_self`); otherwise signs the browser out.
pub async fn end_impersonation(
    State(state): State<AppState>,
    headers: HeaderMap,
    console: Console<perm::Authenticated>,
) -> Response {
    let ctx = &console.authz.ctx;
    let back = ctx
        .impersonator
        .as_ref()
        .and_then(|a| super::platform::return_to_self(&state, &headers, a, ctx.tenant_id));
    if let Err(e) = impersonation::end_impersonation(State(state.clone()), console.authz).await {
        return render::api_error(e);
    }
    back.unwrap_or_else(|| {
        redirect_with(
            "/login?done=impersonation_ended",
            [
                clear_cookie(&state, SESSION_COOKIE),
                clear_cookie(&state, super::platform::RETURN_COOKIE),
            ],
        )
    })
}
