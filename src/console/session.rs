//! The console's cookie session and CSRF protection.
//!
//! The session cookie holds a JWT of its own audience (`tenantry-console`) that
//! names the same `user_sessions` row a token session uses; every request goes
//! through [`authenticate_claims`], the check behind `Authz`, so revocation,
//! sign-out-everywhere and deactivation end a console session at once.
//!
//! CSRF: every state-changing request must carry `csrf_token` (form field) or
//! `X-CSRF-Token` (htmx). Signed in, the token is an HMAC of the session id
//! (per session, nothing stored); before sign-in it is a random value in its
//! own cookie (double submit). Anything else answers 403.

use std::collections::HashMap;

use axum::{
    body::{Body, to_bytes},
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::render::{self, Frame};
use crate::{
    app::AppState,
    auth::{
        Authz,
        extract::authenticate_claims,
        jwt::{ACCESS_AUDIENCE, Claims},
        session::TokenResponse,
    },
    crypto::{ct_eq, random_token},
    http::ApiError,
    rbac::Required,
};

/// Audience of the console's session cookie.
pub const CONSOLE_AUDIENCE: &str = "tenantry-console";
/// The signed-in cookie.
pub const SESSION_COOKIE: &str = "tenantry_session";
/// The pre-sign-in CSRF cookie.
const CSRF_COOKIE: &str = "tenantry_csrf";
/// A console sign-in lasts a working day (never past its `user_sessions` row).
const CONSOLE_TTL_SECS: i64 = 12 * 3600;
/// Largest form a console page posts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The request's cookies by name (the first of duplicates wins).
pub fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                out.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
        }
    }
    out
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers).remove(name).filter(|v| !v.is_empty())
}

/// `Set-Cookie` for `name`: HttpOnly, SameSite=Lax, Secure in production.
/// `value` must be cookie-safe (tokens here are base64url or hex).
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.is_production() { "; Secure" } else { "" };
    let line = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&line).expect("cookie values are token characters")
}

pub fn clear_cookie(state: &AppState, name: &str) -> HeaderValue {
    set_cookie(state, name, "", 0)
}

/// The console cookie's claims when it verifies (signature, audience, expiry);
/// whether the session is still live is [`Console`]'s question.
pub fn session_claims(state: &AppState, headers: &HeaderMap) -> Option<Claims> {
    state.jwt.verify(&cookie(headers, SESSION_COOKIE)?, CONSOLE_AUDIENCE)
}

/// The session cookie for a completed sign-in: same user, tenant, session
/// and impersonator as the access token the sign-in issued.
pub fn session_cookie(state: &AppState, tokens: &TokenResponse) -> HeaderValue {
    let act = state
        .jwt
        .verify(&tokens.access_token, ACCESS_AUDIENCE)
        .and_then(|c| c.act);
    let ttl = if act.is_some() {
        tokens.expires_in.max(60)
    } else {
        CONSOLE_TTL_SECS
    };
    let (jwt, ttl) = state.jwt.issue(
        CONSOLE_AUDIENCE,
        tokens.user.id,
        tokens.tenant.id,
        tokens.session_id,
        ttl,
        act,
    );
    set_cookie(state, SESSION_COOKIE, &jwt, ttl)
}

fn session_csrf(state: &AppState, session: uuid::Uuid) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.config.secret_key.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(b"console-csrf:");
    mac.update(session.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The CSRF token forms on this page must carry, and the cookie to set when
/// a visitor has none yet.
pub struct Csrf {
    pub token: String,
    pub new_cookie: Option<HeaderValue>,
}

impl Csrf {
    pub fn for_request(state: &AppState, headers: &HeaderMap) -> Self {
        if let Some(claims) = session_claims(state, headers) {
            return Csrf {
                token: session_csrf(state, claims.sid),
                new_cookie: None,
            };
        }
        match cookie(headers, CSRF_COOKIE) {
            Some(token) => Csrf {
                token,
                new_cookie: None,
            },
            None => {
                let token = random_token();
                let new_cookie = Some(set_cookie(state, CSRF_COOKIE, &token, 24 * 3600));
                Csrf { token, new_cookie }
            }
        }
    }

    /// Adds the pre-sign-in cookie to `res` when this visitor had none.
    pub fn attach(&self, mut res: Response) -> Response {
        if let Some(c) = &self.new_cookie {
            res.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        res
    }
}

/// Refuses (403) any console request but GET/HEAD without the right CSRF token.
pub async fn require_csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return render::message(StatusCode::PAYLOAD_TOO_LARGE, "Too large", "That form was too large.");
    };
    let sent = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v.into_owned())
        });
    let expected = Csrf::for_request(&state, &parts.headers);
    let valid = expected.new_cookie.is_none() && sent.is_some_and(|s| ct_eq(s.as_bytes(), expected.token.as_bytes()));
    if !valid {
        tracing::warn!(path = ?parts.uri.path(), "console request refused: missing or wrong CSRF token");
        let res = render::message(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        );
        return expected.attach(res);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// A signed-in console user holding `P`, with the tenant transaction open
/// (the same [`Authz`] the API hands out, so pages call the same service code).
/// Signed out or revoked: a redirect to the sign-in page.
pub struct Console<P: Required> {
    pub authz: Authz<P>,
    pub csrf: String,
}

impl<P: Required> Console<P> {
    /// The page frame (navigation, tenant, impersonation banner) for this user.
    pub fn frame(&self, current: &str) -> Frame {
        Frame::new(&self.authz.ctx, &self.csrf, current)
    }
}

fn to_sign_in(state: &AppState) -> Response {
    let mut res = super::see_other("/login");
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(state, SESSION_COOKIE));
    res
}

impl<P: Required> FromRequestParts<AppState> for Console<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let claims = session_claims(state, &parts.headers).ok_or_else(|| to_sign_in(state))?;
        let csrf = session_csrf(state, claims.sid);
        let (ctx, tx) = match authenticate_claims(claims, parts, state).await {
            Ok(found) => found,
            Err(ApiError::Unauthorized(_)) => return Err(to_sign_in(state)),
            Err(e) => return Err(render::api_error(e)),
        };
        match Authz::checked(ctx, tx) {
            Ok(authz) => Ok(Console { authz, csrf }),
            Err(e) => Err(render::api_error(e)),
        }
    }
}

/// A 303 to `to` carrying `set` cookies.
pub fn redirect_with(to: &str, set: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut res = super::see_other(to);
    for c in set {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res.into_response()
}
