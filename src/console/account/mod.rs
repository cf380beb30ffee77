//! "My account": profile, password (policy checked as you type), TOTP
//! enrolment with a server-drawn QR code and recovery codes, sessions, and the
//! user's own sign-in history and security events.

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};

use super::{
    render::{self, Frame},
    session::Console,
};
use crate::{
    app::AppState,
    auth::{handlers::passwords, model::ChangePasswordRequest, password::check_policy},
    http::{ApiError, extract::ApiJson},
    rbac::perm,
    users::{handlers as users, model::MyChanges},
};

type Me = Console<perm::Authenticated>;

const WHEN: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

pub(in crate::console) fn when(t: OffsetDateTime) -> String {
    t.format(WHEN).unwrap_or_default()
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// Confirmations a redirect may ask for (never free text).
fn notice(done: &Done) -> Option<&'static str> {
    Some(match done.done.as_deref()? {
        "profile" => "Your profile is saved.",
        "password" => "Your password is changed. Your other sessions were signed out.",
        "mfa_on" => "Two-factor authentication is on.",
        "mfa_off" => "Two-factor authentication is off.",
        "session" => "That session is signed out.",
        "others" => "All your other sessions are signed out.",
        _ => return None,
    })
}

/// The first field error as a sentence.
fn field_message(e: &ApiError) -> String {
    match e {
        ApiError::Validation(fields) => fields
            .first()
            .map(|f| format!("The {} {}.", f.field.replace('_', " "), f.message))
            .unwrap_or_else(|| "Check the form and try again.".into()),
        other => other.to_string(),
    }
}

/// "Chrome on Linux" from a user agent (a hint for people, not a fingerprint).
pub(in crate::console) fn device(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|u| !u.is_empty()) else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        _ => ua.chars().take(60).collect(),
    }
}

#[derive(Serialize)]
struct ProfileView {
    frame: Frame,
    first_name: String,
    last_name: String,
    email: String,
    email_verified: bool,
    roles: Vec<String>,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub async fn profile_page(me: Me, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/account");
    match users::get_me(me.authz).await {
        Ok(ApiJson(user)) => render::ok(
            "account.html",
            ProfileView {
                frame,
                first_name: user.first_name,
                last_name: user.last_name,
                email: user.email,
                email_verified: user.email_verified,
                roles: user.roles,
                notice: notice(&done),
                error: None,
            },
        ),
        Err(e) => render::api_error(e),
    }
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

pub async fn profile_submit(me: Me, Form(form): Form<ProfileForm>) -> Response {
    let frame = me.frame("/account");
    let email = me.authz.ctx.email.clone();
    let changes = MyChanges {
        first_name: Some(form.first_name.clone()),
        last_name: Some(form.last_name.clone()),
    };
    match users::update_me(me.authz, ApiJson(changes)).await {
        Ok(_) => super::see_other("/account?done=profile"),
        Err(e @ ApiError::Validation(_)) => render::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "account.html",
            ProfileView {
                frame,
                first_name: form.first_name,
                last_name: form.last_name,
                email,
                email_verified: true,
                roles: Vec::new(),
                notice: None,
                error: Some(field_message(&e)),
            },
        ),
        Err(e) => render::api_error(e),
    }
}

#[derive(Serialize)]
struct PasswordView {
    frame: Frame,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub async fn password_page(me: Me, Query(done): Query<Done>) -> Response {
    let view = PasswordView {
        frame: me.frame("/account/password"),
        notice: notice(&done),
        error: None,
    };
    render::ok("password.html", view)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn password_submit(State(state): State<AppState>, me: Me, Form(form): Form<PasswordForm>) -> Response {
    let frame = me.frame("/account/password");
    let request = ChangePasswordRequest {
        current_password: form.current_password,
        new_password: form.new_password,
    };
    match passwords::change_password(State(state), me.authz, ApiJson(request)).await {
        Ok(_) => super::see_other("/account/password?done=password"),
        Err(e @ ApiError::Validation(_)) => render::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "password.html",
            PasswordView {
                frame,
                notice: None,
                error: Some(field_message(&e)),
            },
        ),
        Err(e) => render::api_error(e),
    }
}

#[derive(Serialize)]
struct PolicyView {
    checked: bool,
    problem: Option<String>,
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    new_password: String,
}

/// htmx partial: the password policy's verdict on what is typed so far (the
/// same check the change itself applies).
pub async fn password_check(me: Me, Form(form): Form<PolicyForm>) -> Response {
    let problem = match check_policy("new_password", &form.new_password, Some(&me.authz.ctx.email)) {
        Ok(()) => None,
        Err(ApiError::Validation(fields)) => fields.into_iter().next().map(|f| f.message),
        Err(e) => Some(e.to_string()),
    };
    let view = PolicyView {
        checked: !form.new_password.is_empty(),
        problem,
    };
    render::ok("policy.html", view)
}

mod mfa_pages;
mod session_pages;

pub use mfa_pages::*;
pub use session_pages::*;
