//! Every guess at a secret is budgeted (issue 13, item 5): wrong current
//! passwords at `change-password` and wrong code/password at `mfa/totp/disable`
//! spend the per-account budget and count toward lockout like login failures;
//! `mfa/verify`, the emailed-token confirmations and OAuth starts spend the
//! per-IP budget. A spent budget answers 429 with Retry-After.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};
use uuid::Uuid;

use crate::helpers::*;

/// The newest queued email of `template` to `to`: its context.
pub(crate) async fn last_email(app: &TestApp, to: &str, template: &str) -> Option<Value> {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar(
        "SELECT context FROM email_outbox WHERE lower(to_email) = lower($1) AND template = $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(to)
    .bind(template)
    .fetch_optional(&mut su)
    .await
    .unwrap()
}

/// One number from SQL with `$1` bound to `user`.
pub(crate) async fn scalar(app: &TestApp, sql: &str, user: Uuid) -> i64 {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(user)
        .fetch_one(&mut su)
        .await
        .unwrap()
}

fn assert_rate_limited(r: &Resp) {
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(secs >= 1, "Retry-After {secs}");
}

fn code_at(secret_b32: &str, offset_secs: i64) -> String {
    let secret = Secret::try_from_base32(secret_b32).unwrap();
    let totp = Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build_noncompliant();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + offset_secs;
    totp.generate(now as u64).to_string()
}

/// Turns TOTP on for the caller; answers the seed.
async fn enable_totp(app: &TestApp, token: &str) -> String {
    let setup = app
        .call(Method::POST, "/api/v1/auth/mfa/totp/setup", Some(token), None)
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/api/v1/auth/mfa/totp/enable",
            token,
            json!({"code": code_at(&secret, 0)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    secret
}

async fn change_password(app: &TestApp, token: &str, current: &str) -> Resp {
    let body = json!({"current_password": current, "new_password": "A-Brand-New-Passphrase-77"});
    app.post("/api/v1/auth/change-password", token, body).await
}

const LOCKED: &str = "SELECT count(*) FROM users WHERE id = $1 AND locked_until > now()";
const FAILED_EVENTS: &str = "SELECT count(*) FROM security_events WHERE user_id = $1 AND event_type = 'login.failed'";
const LOCK_EVENTS: &str = "SELECT count(*) FROM security_events WHERE user_id = $1 AND event_type = 'account.locked'";

#[tokio::test]
async fn change_password_guesses_spend_the_account_budget() {
    let app = TestApp::spawn_with(TestConfig::default().set("RATE_LIMIT_ACCOUNT_PER_MINUTE", 2)).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    for _ in 0..2 {
        change_password(&app, &token, "Not-The-Password-1")
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    // The budget is spent: even the right password waits.
    assert_rate_limited(&change_password(&app, &token, PASSWORD).await);
    app.token(t.email("user"), PASSWORD, Some("acme")).await;
}

#[tokio::test]
async fn change_password_guesses_lock_the_account_like_login() {
    let app = TestApp::spawn_with(TestConfig::default().set("MAX_FAILED_LOGINS", 3)).await;
    let t = app.seed_tenant("acme").await;
    let (email, user) = (t.email("user"), t.user_id("user"));
    let token = t.token(&app, "user").await;
    for _ in 0..3 {
        change_password(&app, &token, "Not-The-Password-1")
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(scalar(&app, LOCKED, user).await, 1);
    assert_eq!(scalar(&app, FAILED_EVENTS, user).await, 3);
    assert_eq!(scalar(&app, LOCK_EVENTS, user).await, 1);
    let alert = last_email(&app, email, "security_alert").await.expect("lockout alert");
    assert_eq!(alert["event"], "account_locked");
    // Locked: sign-in and further guesses are refused, the right password too.
    app.login(email, PASSWORD, Some("acme"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    assert_rate_limited(&change_password(&app, &token, PASSWORD).await);
}

#[tokio::test]
async fn totp_disable_needs_the_current_password() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let secret = enable_totp(&app, &token).await;
    let disable = "/api/v1/auth/mfa/totp/disable";

    // A stolen access token plus a code is not enough any more.
    let r = app.post(disable, &token, json!({"code": code_at(&secret, 30)})).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            disable,
            &token,
            json!({"code": code_at(&secret, 30), "current_password": "Not-The-Password-1"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "current_password", "{}", r.body);
    let status = app.get("/api/v1/users/me", &token).await;
    assert_eq!(status.body["mfa_enabled"], true, "{}", status.body);

    let r = app
        .post(
            disable,
            &token,
            json!({"code": code_at(&secret, 30), "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mfa_enabled"], false);
}

#[tokio::test]
async fn totp_disable_guesses_spend_the_budget_and_lock() {
    let config = TestConfig::default()
        .set("RATE_LIMIT_ACCOUNT_PER_MINUTE", 4)
        .set("MAX_FAILED_LOGINS", 3);
    let app = TestApp::spawn_with(config).await;
    let t = app.seed_tenant("acme").await;
    let user = t.user_id("user");
    let token = t.token(&app, "user").await;
    let secret = enable_totp(&app, &token).await;
    let disable = "/api/v1/auth/mfa/totp/disable";
    for code in ["000000", "111111"] {
        let r = app
            .post(disable, &token, json!({"code": code, "current_password": PASSWORD}))
            .await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["errors"][0]["field"], "code", "{}", r.body);
    }
    assert_eq!(scalar(&app, FAILED_EVENTS, user).await, 2);
    let r = app
        .post(disable, &token, json!({"code": "222222", "current_password": PASSWORD}))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(scalar(&app, LOCKED, user).await, 1, "the third failure locks");
    // Locked, and then out of budget: the right code and password wait.
    let right = json!({"code": code_at(&secret, 30), "current_password": PASSWORD});
    assert_rate_limited(&app.post(disable, &token, right.clone()).await);
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE users SET locked_until = NULL, failed_login_count = 0 WHERE id = $1")
        .bind(user)
        .execute(&mut su)
        .await
        .unwrap();
    app.post(disable, &token, json!({"code": "333333", "current_password": PASSWORD}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_rate_limited(&app.post(disable, &token, right).await);
}

/// An app whose per-IP sign-in budget is 2 requests a minute.
async fn app_with_ip_budget_of_two() -> TestApp {
    TestApp::spawn_with(TestConfig::default().set("RATE_LIMIT_LOGIN_PER_MINUTE", 2)).await
}

/// Two calls are answered with `first`, the third with 429.
async fn third_is_rate_limited(app: &TestApp, method: Method, path: &str, body: Option<Value>, first: StatusCode) {
    for _ in 0..2 {
        let r = app.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(r.status, first, "{path}: {}", r.body);
    }
    assert_rate_limited(&app.call(method, path, None, body).await);
}

#[tokio::test]
async fn mfa_verify_spends_the_ip_budget() {
    let app = app_with_ip_budget_of_two().await;
    let body = json!({"mfa_token": "not-a-token", "code": "123456"});
    third_is_rate_limited(
        &app,
        Method::POST,
        "/api/v1/auth/mfa/verify",
        Some(body),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn password_reset_and_set_password_confirmations_spend_the_ip_budget() {
    let app = app_with_ip_budget_of_two().await;
    let body = json!({"token": "guessed-token", "new_password": "A-Fine-Passphrase-42"});
    third_is_rate_limited(
        &app,
        Method::POST,
        "/api/v1/auth/password-reset/confirm",
        Some(body),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn verify_email_spends_the_ip_budget() {
    let app = app_with_ip_budget_of_two().await;
    let body = json!({"token": "guessed-token"});
    third_is_rate_limited(
        &app,
        Method::POST,
        "/api/v1/auth/verify-email",
        Some(body),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn accept_invitation_spends_the_ip_budget() {
    let app = app_with_ip_budget_of_two().await;
    let body = json!({"token": "guessed-token", "password": "A-Fine-Passphrase-42"});
    third_is_rate_limited(
        &app,
        Method::POST,
        "/api/v1/auth/accept-invitation",
        Some(body),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn oauth_starts_spend_the_ip_budget() {
    let app = app_with_ip_budget_of_two().await;
    app.seed_tenant("acme").await;
    // No provider configured: 404, but each start is still a spent try.
    third_is_rate_limited(
        &app,
        Method::GET,
        "/api/v1/auth/oauth/google/login/acme",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}
