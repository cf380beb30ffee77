//! "My account": profile, password (policy checked as you type), TOTP
//! enrolment with a server-drawn QR code and recovery codes, sessions, and the
//! user's own sign-in history and security events.

use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};
use uuid::Uuid;

use super::{
    render::{self, Frame},
    session::{Console, SESSION_COOKIE, clear_cookie, redirect_with},
};
use crate::{
    app::AppState,
    audit::{self, AuditEvent},
    auth::{
        handlers::{mfa, own_rows, passwords, sessions},
        model::{ChangePasswordRequest, LoginAttemptView, SecurityEventView, TotpCode},
        password::check_policy,
        session::{revoke_session, revoke_user_sessions},
    },
    http::{ApiError, extract::ApiJson},
    pagination::PageParams,
    rbac::perm,
    users::{handlers as users, model::MyChanges},
};

type Me = Console<perm::Authenticated>;

const WHEN: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

fn when(t: OffsetDateTime) -> String {
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

#[derive(Serialize)]
struct MfaView {
    frame: Frame,
    enabled: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn mfa_view(me: Me, notice: Option<&'static str>, error: Option<String>) -> Result<MfaView, ApiError> {
    let frame = me.frame("/account/mfa");
    let mut tx = me.authz.tx;
    let enabled = crate::auth::session::load_user_summary(&mut tx, me.authz.ctx.user_id)
        .await?
        .mfa_enabled;
    Ok(MfaView {
        frame,
        enabled,
        notice,
        error,
    })
}

pub async fn mfa_page(me: Me, Query(done): Query<Done>) -> Response {
    match mfa_view(me, notice(&done), None).await {
        Ok(view) => render::ok("mfa.html", view),
        Err(e) => render::api_error(e),
    }
}

#[derive(Serialize)]
struct SetupView {
    frame: Frame,
    secret: String,
    otpauth_url: String,
    qr_svg: String,
    recovery_codes: Vec<String>,
    recovery_text: String,
    error: Option<String>,
}

/// The QR code of `url` as an SVG element (drawn here, no image request).
fn qr_svg(url: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(url.as_bytes()) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Drop the XML declaration: the element is embedded in the page.
    match svg.find("<svg") {
        Some(i) => svg[i..].replacen(
            "<svg ",
            "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
            1,
        ),
        None => String::new(),
    }
}

fn setup_view(
    frame: Frame,
    secret: String,
    otpauth_url: String,
    codes: Vec<String>,
    error: Option<String>,
) -> SetupView {
    SetupView {
        frame,
        qr_svg: qr_svg(&otpauth_url),
        recovery_text: codes.join(" "),
        secret,
        otpauth_url,
        recovery_codes: codes,
        error,
    }
}

/// Starts enrolment: QR code, the secret for typing in, recovery codes (shown once).
pub async fn mfa_setup(State(state): State<AppState>, me: Me) -> Response {
    let frame = me.frame("/account/mfa");
    match mfa::totp_setup(State(state), me.authz).await {
        Ok(ApiJson(setup)) => render::ok(
            "mfa_setup.html",
            setup_view(frame, setup.secret, setup.otpauth_url, setup.recovery_codes, None),
        ),
        Err(ApiError::Conflict { .. }) => super::see_other("/account/mfa"),
        Err(e) => render::api_error(e),
    }
}

#[derive(Deserialize)]
pub struct EnableForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    otpauth_url: String,
}

pub async fn mfa_enable(State(state): State<AppState>, me: Me, Form(form): Form<EnableForm>) -> Response {
    let frame = me.frame("/account/mfa");
    match mfa::totp_enable(State(state), me.authz, ApiJson(TotpCode { code: form.code })).await {
        Ok(_) => super::see_other("/account/mfa?done=mfa_on"),
        Err(ApiError::Validation(_)) if form.otpauth_url.starts_with("otpauth://totp/") => render::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mfa_setup.html",
            setup_view(
                frame,
                form.secret,
                form.otpauth_url,
                Vec::new(),
                Some("That code did not match. Enter the code your app shows now.".into()),
            ),
        ),
        Err(ApiError::Conflict { .. }) => super::see_other("/account/mfa"),
        Err(e) => render::api_error(e),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn mfa_disable(State(state): State<AppState>, me: Me, Form(form): Form<CodeForm>) -> Response {
    let frame = me.frame("/account/mfa");
    match mfa::totp_disable(State(state), me.authz, ApiJson(TotpCode { code: form.code })).await {
        Ok(_) => super::see_other("/account/mfa?done=mfa_off"),
        Err(ApiError::Validation(_)) => render::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mfa.html",
            MfaView {
                frame,
                enabled: true,
                notice: None,
                error: Some("That code is not valid. Enter a current code or a recovery code.".into()),
            },
        ),
        Err(ApiError::Conflict { .. }) => super::see_other("/account/mfa"),
        Err(e) => render::api_error(e),
    }
}

#[derive(Deserialize)]
pub struct CodesForm {
    #[serde(default)]
    codes: String,
}

/// The recovery codes just shown, as a text file (posted back by the setup
/// page; they are stored only hashed).
pub async fn recovery_codes_download(State(state): State<AppState>, _me: Me, Form(form): Form<CodesForm>) -> Response {
    let mut body = format!("{} recovery codes. Each works once.\n\n", state.config.app_name);
    for code in form.codes.split_whitespace().take(20) {
        body.push_str(code);
        body.push('\n');
    }
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"recovery-codes.txt\""),
    );
    res
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    ip_address: Option<String>,
    user_agent: Option<String>,
    auth_method: String,
    created_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
}

#[derive(Serialize)]
struct SessionItem {
    id: Uuid,
    device: String,
    ip: String,
    method: String,
    started: String,
    last_seen: String,
    current: bool,
}

#[derive(Serialize)]
struct SessionsView {
    frame: Frame,
    sessions: Vec<SessionItem>,
    notice: Option<&'static str>,
}

/// "Chrome on Linux" from a user agent (a hint for people, not a fingerprint).
fn device(ua: Option<&str>) -> String {
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

pub async fn sessions_page(me: Me, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/account/sessions");
    let Me { authz, .. } = me;
    let (ctx, mut tx) = (authz.ctx, authz.tx);
    let rows: Result<Vec<SessionRow>, sqlx::Error> = sqlx::query_as(
        "SELECT id, ip_address, user_agent, auth_method, created_at, last_used_at FROM user_sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() \
         ORDER BY (id = $2) DESC, last_used_at DESC LIMIT 100",
    )
    .bind(ctx.user_id)
    .bind(ctx.session_id)
    .fetch_all(&mut *tx)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => return render::api_error(e.into()),
    };
    let sessions = rows
        .into_iter()
        .map(|r| SessionItem {
            current: r.id == ctx.session_id,
            device: device(r.user_agent.as_deref()),
            ip: r.ip_address.unwrap_or_else(|| "unknown".into()),
            method: r.auth_method,
            started: when(r.created_at),
            last_seen: when(r.last_used_at),
            id: r.id,
        })
        .collect();
    render::ok(
        "sessions.html",
        SessionsView {
            frame,
            sessions,
            notice: notice(&done),
        },
    )
}

/// Signs out one of the user's own sessions (this one: a sign-out).
pub async fn end_session(State(state): State<AppState>, me: Me, Path(id): Path<Uuid>) -> Response {
    if id == me.authz.ctx.session_id {
        return match sessions::logout(me.authz).await {
            Ok(_) => redirect_with("/login?done=signed_out", [clear_cookie(&state, SESSION_COOKIE)]),
            Err(e) => render::api_error(e),
        };
    }
    let result = async {
        let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
        let mine: Option<Uuid> = sqlx::query_scalar("SELECT id FROM user_sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(ctx.user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if mine.is_none() {
            return Err(ApiError::not_found("Session"));
        }
        if revoke_session(&mut tx, id, "signed_out_by_user").await? > 0 {
            let event =
                AuditEvent::new("session.revoked", "session", id).new_values(json!({"reason": "signed_out_by_user"}));
            audit::record(&mut tx, ctx.tenant_id, &ctx.actor(), event).await?;
        }
        tx.commit().await?;
        Ok(())
    };
    match result.await {
        Ok(()) => super::see_other("/account/sessions?done=session"),
        Err(e) => render::api_error(e),
    }
}

/// Signs out every other session of the user; this one stays.
pub async fn end_other_sessions(me: Me) -> Response {
    let result = async {
        let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
        let revoked = revoke_user_sessions(&mut tx, ctx.user_id, Some(ctx.session_id), "signed_out_by_user").await?;
        let event = AuditEvent::new("user.sessions_terminated", "user", ctx.user_id)
            .new_values(json!({"sessions_revoked": revoked, "kept": ctx.session_id}));
        audit::record(&mut tx, ctx.tenant_id, &ctx.actor(), event).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(())
    };
    match result.await {
        Ok(()) => super::see_other("/account/sessions?done=others"),
        Err(e) => render::api_error(e),
    }
}

#[derive(Serialize)]
struct AttemptItem {
    when: String,
    success: bool,
    method: String,
    reason: String,
    ip: String,
    device: String,
}

#[derive(Serialize)]
struct EventItem {
    when: String,
    event: String,
    ip: String,
    device: String,
}

#[derive(Serialize)]
struct ActivityView {
    frame: Frame,
    attempts: Vec<AttemptItem>,
    events: Vec<EventItem>,
}

/// The user's last 25 sign-in attempts and security events.
pub async fn activity_page(me: Me) -> Response {
    let frame = me.frame("/account/activity");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let page = PageParams { page: 1, page_size: 25 };
    let attempts = own_rows::<LoginAttemptView>(
        &mut tx,
        &ctx,
        "login_attempts",
        "id, email, ip_address, user_agent, method, success, reason, created_at",
        &page,
    )
    .await;
    let events = own_rows::<SecurityEventView>(
        &mut tx,
        &ctx,
        "security_events",
        "id, event_type, details, ip_address, user_agent, created_at",
        &page,
    )
    .await;
    let (attempts, events) = match (attempts, events) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return render::api_error(e.into()),
    };
    let attempts = attempts
        .items
        .into_iter()
        .map(|a| AttemptItem {
            when: when(a.created_at),
            success: a.success,
            method: a.method,
            reason: a.reason.unwrap_or_default().replace('_', " "),
            ip: a.ip_address.unwrap_or_default(),
            device: device(a.user_agent.as_deref()),
        })
        .collect();
    let events = events
        .items
        .into_iter()
        .map(|e| EventItem {
            when: when(e.created_at),
            event: e.event_type.replace(['.', '_'], " "),
            ip: e.ip_address.unwrap_or_default(),
            device: device(e.user_agent.as_deref()),
        })
        .collect();
    render::ok(
        "activity.html",
        ActivityView {
            frame,
            attempts,
            events,
        },
    )
}
