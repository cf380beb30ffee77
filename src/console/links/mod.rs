//! Landing pages of the email links, and "forgot password".
//!
//! A link arrives as `/{page}?token=…`: the token is moved into a short-lived
//! HttpOnly cookie and the browser is sent to the same page without it, so
//! no token stays in the address bar, history or a `Referer`. The page then
//! says plainly when the link is used or expired and offers the next step.
//! Each form calls the API handler of the same step.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    render,
    session::{self, Csrf, clear_cookie, redirect_with, session_claims, set_cookie},
};
use crate::{
    app::AppState,
    auth::{
        handlers::{accounts, unlock},
        model::UnlockRequest,
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
        LinkKind::Unlock => TokenKind::Unlock.lookup_kind(),
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
        LinkKind::Unlock => tokens::peek(&mut tx, TokenKind::Unlock, token).await?.is_some(),
    })
}

#[derive(Clone, Copy)]
enum LinkKind {
    Reset,
    Verify,
    Invitation,
    Unlock,
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
        LinkKind::Unlock => (
            "This unlock link has expired or was already used",
            "Unlock links work once, and only while the lock lasts: if the lock has ended, just sign in. \
             A password reset also removes a lock.",
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

/// The unlock link's page: a button that ends the lock. Opening the link
/// changes nothing (mail scanners open links too); the POST calls
/// `POST /api/v1/auth/unlock`'s handler.
pub async fn unlock_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    if let Some(redirect) = stash(&state, "unlock", &q) {
        return redirect;
    }
    let Some(token) = stashed(&headers, "unlock") else {
        return dead_link(&state, LinkKind::Unlock);
    };
    match link_is_live(&state, LinkKind::Unlock, &token).await {
        Ok(true) => {}
        Ok(false) => return dead_link(&state, LinkKind::Unlock),
        Err(e) => return render::api_error(e),
    }
    let csrf = Csrf::for_request(&state, &headers);
    let view = serde_json::json!({ "csrf": csrf.token.clone() });
    csrf.attach(render::ok("unlock_confirm.html", view))
}

/// Ends the lock with the stashed token, then offers sign-in.
pub async fn unlock_submit(State(state): State<AppState>, meta: ClientMeta, headers: HeaderMap) -> Response {
    let Some(token) = stashed(&headers, "unlock") else {
        return dead_link(&state, LinkKind::Unlock);
    };
    match unlock::unlock_account(State(state.clone()), meta, ApiJson(UnlockRequest { token })).await {
        Ok(_) => {
            let view = LinkView {
                title: "Your account is unlocked",
                text: "You can sign in again. If you did not cause the lock, someone tried to guess \
                       your password: consider changing it and turning on two-factor authentication.",
                next: "/login",
                next_label: "Go to sign-in",
            };
            let mut res = render::ok("unlock.html", view);
            res.headers_mut()
                .append(axum::http::header::SET_COOKIE, clear_cookie(&state, LINK_COOKIE));
            res
        }
        Err(ApiError::BadRequest(_)) => dead_link(&state, LinkKind::Unlock),
        Err(e) => render::api_error(e),
    }
}

/// The security-alert link: signed in, the user's own activity; otherwise
/// what to do about an alert.
pub async fn security_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session_claims(&state, &headers).is_some() {
        return super::see_other("/account/activity");
    }
    render::ok("security.html", serde_json::json!({}))
}

mod invitation;
mod password;

pub use invitation::*;
pub use password::*;
