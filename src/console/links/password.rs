//! New-password pages (`/set-password`, `/reset-password`) and "forgot password".

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{LINK_COOKIE, LinkKind, TokenQuery, dead_link, link_is_live, stash, stashed};
use crate::{
    app::AppState,
    auth::{
        handlers::passwords,
        model::{ResetConfirm, ResetRequest},
    },
    console::{
        render,
        session::{self, Csrf, clear_cookie, redirect_with},
        signin::clean_slug,
    },
    http::{
        ApiError,
        extract::{ApiJson, ClientMeta},
    },
};

#[derive(Serialize)]
struct PasswordView {
    csrf: String,
    title: &'static str,
    action: &'static str,
    error: Option<String>,
}

async fn new_password_page(state: &AppState, headers: &HeaderMap, q: TokenQuery, page: &'static str) -> Response {
    if let Some(redirect) = stash(state, page, &q) {
        return redirect;
    }
    let Some(token) = stashed(headers, page) else {
        return dead_link(state, LinkKind::Reset);
    };
    match link_is_live(state, LinkKind::Reset, &token).await {
        Ok(true) => {}
        Ok(false) => return dead_link(state, LinkKind::Reset),
        Err(e) => return render::api_error(e),
    }
    show_new_password(state, headers, page, None, StatusCode::OK)
}

fn show_new_password(
    state: &AppState,
    headers: &HeaderMap,
    page: &'static str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let csrf = Csrf::for_request(state, headers);
    let title = if page == "set-password" {
        "Choose your password"
    } else {
        "Choose a new password"
    };
    let view = PasswordView {
        csrf: csrf.token.clone(),
        title,
        action: page,
        error,
    };
    csrf.attach(render::page(status, "new_password.html", view))
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    new_password: String,
}

async fn new_password_submit(
    state: AppState,
    meta: ClientMeta,
    headers: &HeaderMap,
    form: NewPasswordForm,
    page: &'static str,
) -> Response {
    let Some(token) = stashed(headers, page) else {
        return dead_link(&state, LinkKind::Reset);
    };
    let request = ResetConfirm {
        token,
        new_password: form.new_password,
    };
    match passwords::confirm_password_reset(State(state.clone()), meta, ApiJson(request)).await {
        Ok(_) => redirect_with(
            "/login?done=password_set",
            [
                clear_cookie(&state, LINK_COOKIE),
                clear_cookie(&state, session::SESSION_COOKIE),
            ],
        ),
        Err(ApiError::BadRequest(_)) => dead_link(&state, LinkKind::Reset),
        Err(ApiError::Validation(fields)) => {
            let msg = fields
                .first()
                .map(|f| format!("The password {}.", f.message))
                .unwrap_or_else(|| "Choose another password.".into());
            show_new_password(&state, headers, page, Some(msg), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => render::api_error(e),
    }
}

pub async fn set_password_page(State(s): State<AppState>, h: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    new_password_page(&s, &h, q, "set-password").await
}

pub async fn set_password_submit(
    State(s): State<AppState>,
    meta: ClientMeta,
    h: HeaderMap,
    Form(f): Form<NewPasswordForm>,
) -> Response {
    new_password_submit(s, meta, &h, f, "set-password").await
}

pub async fn reset_password_page(State(s): State<AppState>, h: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    new_password_page(&s, &h, q, "reset-password").await
}

pub async fn reset_password_submit(
    State(s): State<AppState>,
    meta: ClientMeta,
    h: HeaderMap,
    Form(f): Form<NewPasswordForm>,
) -> Response {
    new_password_submit(s, meta, &h, f, "reset-password").await
}

#[derive(Serialize)]
struct ForgotView {
    csrf: String,
    sent: bool,
    error: Option<&'static str>,
}

pub async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&state, &headers);
    let view = ForgotView {
        csrf: csrf.token.clone(),
        sent: false,
        error: None,
    };
    csrf.attach(render::ok("forgot.html", view))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    organisation: String,
}

pub async fn forgot_submit(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Response {
    let slug = clean_slug(&form.organisation);
    let request = ResetRequest {
        email: form.email,
        tenant_slug: Some(slug).filter(|s| !s.is_empty()),
    };
    let (status, sent, error) =
        match passwords::request_password_reset(State(state.clone()), meta, ApiJson(request)).await {
            Ok(_) => (StatusCode::OK, true, None),
            Err(e @ ApiError::RateLimited { .. }) => (
                e.status(),
                false,
                Some("Too many requests. Wait a minute, then try again."),
            ),
            Err(e) => return render::api_error(e),
        };
    let csrf = Csrf::for_request(&state, &headers);
    let view = ForgotView {
        csrf: csrf.token.clone(),
        sent,
        error,
    };
    csrf.attach(render::page(status, "forgot.html", view))
}
