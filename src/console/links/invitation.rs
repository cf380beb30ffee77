//! `/verify-email` and `/accept-invitation`.

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
        handlers::accounts,
        model::{AcceptInvitationRequest, VerifyEmailRequest},
    },
    console::{
        render,
        session::{self, Csrf, clear_cookie, redirect_with},
    },
    http::{
        ApiError,
        extract::{ApiJson, ClientMeta},
    },
};

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
