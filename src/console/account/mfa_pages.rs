//! Two-factor authentication: enrolment (QR code, recovery codes), confirmation, turning it off.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::{Done, Me, notice};
use crate::{
    app::AppState,
    auth::{
        handlers::mfa,
        model::{TotpCode, TotpDisable},
    },
    console::render::{self, Frame},
    http::{ApiError, extract::ApiJson},
};

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
        Err(ApiError::Conflict { .. }) => crate::console::see_other("/account/mfa"),
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
        Ok(_) => crate::console::see_other("/account/mfa?done=mfa_on"),
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
        Err(ApiError::Conflict { .. }) => crate::console::see_other("/account/mfa"),
        Err(e) => render::api_error(e),
    }
}

/// Turning MFA off takes a current code and the password: a stolen session
/// alone cannot do it.
#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_password: String,
}

pub async fn mfa_disable(State(state): State<AppState>, me: Me, Form(form): Form<DisableForm>) -> Response {
    let frame = me.frame("/account/mfa");
    let body = TotpDisable {
        code: form.code,
        current_password: form.current_password,
    };
    match mfa::totp_disable(State(state), me.authz, ApiJson(body)).await {
        Ok(_) => crate::console::see_other("/account/mfa?done=mfa_off"),
        Err(ApiError::Validation(_)) => render::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mfa.html",
            MfaView {
                frame,
                enabled: true,
                notice: None,
                error: Some(
                    "That code or password is not valid. Enter your password and a current code or a recovery code."
                        .into(),
                ),
            },
        ),
        Err(ApiError::Conflict { .. }) => crate::console::see_other("/account/mfa"),
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
