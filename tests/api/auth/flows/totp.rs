//! TOTP: enrolment, sign-in with a code, recovery codes, and disabling it.

use reqwest::{Method, StatusCode};
use serde_json::json;
use totp_rs::{Builder, Secret};

use super::post_anon;
use crate::helpers::*;

fn code_at(secret_b32: &str, offset_secs: i64) -> String {
    let secret = Secret::try_from_base32(secret_b32).unwrap();
    let totp = Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build_noncompliant();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + offset_secs;
    totp.generate(now as u64).to_string()
}

#[tokio::test]
async fn totp_enrolment_sign_in_recovery_and_disable() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user");
    let token = app.token(email, PASSWORD, None).await;

    let setup = app
        .call(Method::POST, "/api/v1/auth/mfa/totp/setup", Some(&token), None)
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    assert!(
        setup.body["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let recovery: Vec<String> = setup.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    let mut su = app.db.superuser().await;
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT totp_pending_enc FROM users WHERE id = $1")
        .bind(t.user_id("user"))
        .fetch_one(&mut su)
        .await
        .unwrap();
    let stored = stored.expect("pending seed stored");
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "seed is encrypted at rest"
    );

    let r = app
        .post("/api/v1/auth/mfa/totp/enable", &token, json!({"code": "000000"}))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/api/v1/auth/mfa/totp/enable",
            &token,
            json!({"code": code_at(&secret, 0)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mfa_enabled"], true);

    // Password alone now yields a challenge, not tokens.
    let login = app.login(email, PASSWORD, None).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["mfa_required"], true);
    assert!(login.body.get("access_token").is_none());
    let mfa_token = login.body["mfa_token"].as_str().unwrap().to_string();
    // The MFA token is not an access token.
    app.get("/api/v1/auth/status", &mfa_token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    let verify = |code: String| {
        let (app, mfa_token) = (&app, mfa_token.clone());
        async move {
            post_anon(
                app,
                "/api/v1/auth/mfa/verify",
                json!({"mfa_token": mfa_token, "code": code}),
            )
            .await
        }
    };
    verify("123456".into()).await.assert_problem(StatusCode::UNAUTHORIZED);
    // The next step's code (within the ±1 window) signs in...
    let next = code_at(&secret, 30);
    let r = verify(next.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["access_token"].is_string());
    // ...once: its step is used now.
    verify(next).await.assert_problem(StatusCode::UNAUTHORIZED);
    // A recovery code works once.
    let r = verify(recovery[0].clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let failures = "SELECT failed_login_count::bigint FROM users WHERE id = $1";
    assert_eq!(
        crate::auth::count_rows(&app, failures, t.user_id("user")).await,
        0,
        "success resets failures"
    );
    verify(recovery[0].clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    // Failures at the MFA step count toward lockout.
    for _ in 0..5 {
        verify("999999".into()).await.assert_problem(StatusCode::UNAUTHORIZED);
    }
    let locked = "SELECT count(*) FROM users WHERE id = $1 AND locked_until > now()";
    assert_eq!(crate::auth::count_rows(&app, locked, t.user_id("user")).await, 1);
    sqlx::query("UPDATE users SET locked_until = NULL, failed_login_count = 0 WHERE id = $1")
        .bind(t.user_id("user"))
        .execute(&mut su)
        .await
        .unwrap();

    // Disable with a recovery code.
    app.post(
        "/api/v1/auth/mfa/totp/disable",
        &token,
        json!({"code": "000000", "current_password": PASSWORD}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/api/v1/auth/mfa/totp/disable",
            &token,
            json!({"code": recovery[1], "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mfa_enabled"], false);
    let r = app.login(email, PASSWORD, None).await;
    assert!(r.body["access_token"].is_string(), "{}", r.body);
    for action in ["user.mfa_enabled", "user.mfa_disabled"] {
        let sql = format!("SELECT count(*) FROM audit_logs WHERE action = '{action}' AND resource_id = $1::text");
        assert_eq!(
            crate::auth::count_rows(&app, &sql, t.user_id("user")).await,
            1,
            "{action}"
        );
    }
}
