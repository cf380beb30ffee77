//! Landing pages of the email links, and "forgot password".
//!
//! A link arrives as `/{page}?token=…`: the token is moved into a short-lived
//! HttpOnly cookie and the browser is sent to the same page without it, so
//! no token stays in the address bar, history or a `Referer`. The page then
//! says plainly when the link is used or expired and offers the next step.
//! Each form calls the API handler of the same step.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    render,
    session::{self, Csrf, clear_cookie, redirect_with, session_claims, set_cookie},
    signin::clean_slug,
};
use crate::{
    app::AppState,
    auth::{
        handlers::{accounts, passwords},
        model::{AcceptInvitationRequest, ResetConfirm, ResetRequest, VerifyEmailRequest},
        session::token_tenant,
        tokens::{self, TokenKind},
    },
    http::{
        ApiError,
        extract::{ApiJson, ClientMeta},
    },
};

/// Holds `{page}.{token}` while the link's page is open.
const LINK_COOKIE: &str = "tenantry_link";
/// How long a page opened from a link stays usable.
const LINK_COOKIE_SECS: i64 = 30 * 60;

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// Our tokens are base64url; anything else cannot be one (and must not reach a cookie).
fn plausible_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 256 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `?token=` present: stash it and redirect to the clean URL.
fn stash(state: &AppState, page: &str, q: &TokenQuery) -> Option<Response> {
    let token = q.token.as_deref()?.trim();
    let value = if plausible_token(token) {
        format!("{page}.{token}")
    } else {
        format!("{page}.invalid")
    };
    let cookie = set_cookie(state, LINK_COOKIE, &value, LINK_COOKIE_SECS);
    Some(redirect_with(&format!("/{page}"), [cookie]))
}

/// The stashed token of `page`, if its link was opened in this browser.
fn stashed(headers: &HeaderMap, page: &str) -> Option<String> {
    let value = session::cookie(headers, LINK_COOKIE)?;
    let (p, token) = value.split_once('.')?;
    (p == page && plausible_token(token)).then(|| token.to_string())
}

/// Whether a link's token can still be used (same checks as its API step).
async fn link_is_live(state: &AppState, kind: LinkKind, token: &str) -> Result<bool, ApiError> {
    let lookup = match kind {
        LinkKind::Reset => TokenKind::PasswordReset.lookup_kind(),
        LinkKind::Verify => TokenKind::EmailVerification.lookup_kind(),
        LinkKind::Invitation => "invitation",
    };
    let Some(tenant) = token_tenant(state, lookup, token).await? else {
        return Ok(false);
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    Ok(match kind {
        LinkKind::Reset => tokens::peek(&mut tx, TokenKind::PasswordReset, token).await?.is_some(),
        LinkKind::Verify => tokens::peek(&mut tx, TokenKind::EmailVerification, token)
            .await?
            .is_some(),
        LinkKind::Invitation => accounts::open_invitation(&mut tx, token).await.is_ok(),
    })
}

#[derive(Clone, Copy)]
enum LinkKind {
    Reset,
    Verify,
    Invitation,
}

/// The page for a link that is missing, used or expired, with the next step.
fn dead_link(state: &AppState, kind: LinkKind) -> Response {
    let (title, text, next, next_label) = match kind {
        LinkKind::Reset => (
            "This link has expired or was already used",
            "Password links work once and for a limited time. Ask for a new one.",
            "/forgot-password",
            "Send me a new link",
        ),
        LinkKind::Verify => (
            "This link has expired or was already used",
            "If your address is already confirmed, just sign in. Otherwise ask your administrator to send a new confirmation email.",
            "/login",
            "Go to sign-in",
        ),
        LinkKind::Invitation => (
            "This invitation has expired or was already accepted",
            "If you accepted it, sign in. Otherwise ask the person who invited you to send a new invitation.",
            "/login",
            "Go to sign-in",
        ),
    };
    let view = LinkView {
        title,
        text,
        next,
        next_label,
    };
    let mut res = render::page(StatusCode::GONE, "unlock.html", view);
    res.headers_mut()
        .append(axum::http::header::SET_COOKIE, clear_cookie(state, LINK_COOKIE));
    res
}

/// A page of text with one next step (also the unlock and dead-link pages).
#[derive(Serialize)]
struct LinkView {
    title: &'static str,
    text: &'static str,
    next: &'static str,
    next_label: &'static str,
}

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

#[derive(Serialize)]
struct ConfirmView {
    csrf: String,
}

pub async fn verify_email_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(redirect) = stash(&state, "verify-email", &q) {
        return redirect;
    }
    let Some(token) = stashed(&headers, "verify-email") else {
        return dead_link(&state, LinkKind::Verify);
    };
    match link_is_live(&state, LinkKind::Verify, &token).await {
        Ok(true) => {}
        Ok(false) => return dead_link(&state, LinkKind::Verify),
        Err(e) => return render::api_error(e),
    }
    let csrf = Csrf::for_request(&state, &headers);
    let view = ConfirmView {
        csrf: csrf.token.clone(),
    };
    csrf.attach(render::ok("verify_email.html", view))
}

pub async fn verify_email_submit(State(state): State<AppState>, meta: ClientMeta, headers: HeaderMap) -> Response {
    let Some(token) = stashed(&headers, "verify-email") else {
        return dead_link(&state, LinkKind::Verify);
    };
    match accounts::verify_email(State(state.clone()), meta, ApiJson(VerifyEmailRequest { token })).await {
        Ok(_) => {
            let mut res = render::message(
                StatusCode::OK,
                "Email address confirmed",
                "Thank you: your email address is confirmed. You can close this page or sign in.",
            );
            res.headers_mut()
                .append(axum::http::header::SET_COOKIE, clear_cookie(&state, LINK_COOKIE));
            res
        }
        Err(ApiError::BadRequest(_)) => dead_link(&state, LinkKind::Verify),
        Err(e) => render::api_error(e),
    }
}

#[derive(Serialize)]
struct InvitationView {
    csrf: String,
    first_name: String,
    last_name: String,
    error: Option<String>,
}

pub async fn invitation_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(redirect) = stash(&state, "accept-invitation", &q) {
        return redirect;
    }
    let Some(token) = stashed(&headers, "accept-invitation") else {
        return dead_link(&state, LinkKind::Invitation);
    };
    match link_is_live(&state, LinkKind::Invitation, &token).await {
        Ok(true) => {}
        Ok(false) => return dead_link(&state, LinkKind::Invitation),
        Err(e) => return render::api_error(e),
    }
    let csrf = Csrf::for_request(&state, &headers);
    let view = InvitationView {
        csrf: csrf.token.clone(),
        first_name: String::new(),
        last_name: String::new(),
        error: None,
    };
    csrf.attach(render::ok("accept_invitation.html", view))
}

#[derive(Deserialize)]
pub struct InvitationForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    password: String,
}

pub async fn invitation_submit(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Form(form): Form<InvitationForm>,
) -> Response {
    let Some(token) = stashed(&headers, "accept-invitation") else {
        return dead_link(&state, LinkKind::Invitation);
    };
    let request = AcceptInvitationRequest {
        token,
        password: form.password,
        first_name: Some(form.first_name.trim().to_string()),
        last_name: Some(form.last_name.trim().to_string()),
    };
    let error = match accounts::accept_invitation(State(state.clone()), meta, ApiJson(request)).await {
        Ok(ApiJson(tokens)) => {
            let cookies = [
                session::session_cookie(&state, &tokens),
                clear_cookie(&state, LINK_COOKIE),
            ];
            return redirect_with("/account", cookies);
        }
        Err(ApiError::BadRequest(_)) => return dead_link(&state, LinkKind::Invitation),
        Err(ApiError::Validation(fields)) => fields
            .first()
            .map(|f| format!("The {} {}.", f.field.replace('_', " "), f.message))
            .unwrap_or_else(|| "Check the form and try again.".into()),
        Err(ApiError::Conflict { detail, .. }) => detail,
        Err(e) => return render::api_error(e),
    };
    let csrf = Csrf::for_request(&state, &headers);
    let view = InvitationView {
        csrf: csrf.token.clone(),
        first_name: form.first_name,
        last_name: form.last_name,
        error: Some(error),
    };
    csrf.attach(render::page(
        StatusCode::UNPROCESSABLE_ENTITY,
        "accept_invitation.html",
        view,
    ))
}

/// The unlock link's page. Unlocking by link is `POST /api/v1/auth/unlock`,
/// added separately; until this page can call it, it removes the token from
/// the address and says how a locked account is unlocked today.
pub async fn unlock_page(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    if let Some(redirect) = stash(&state, "unlock", &q) {
        return redirect;
    }
    let view = LinkView {
        title: "Unlock your account",
        text: "A locked account unlocks by itself when the lock period ends. To unlock it now, \
               reset your password: a new password also removes the lock.",
        next: "/forgot-password",
        next_label: "Reset my password",
    };
    render::ok("unlock.html", view)
}

/// The security-alert link: signed in, the user's own activity; otherwise
/// what to do about an alert.
pub async fn security_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session_claims(&state, &headers).is_some() {
        return super::see_other("/account/activity");
    }
    render::ok("security.html", serde_json::json!({}))
}
