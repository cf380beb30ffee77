//! Password reset: tokens are single-use and expire.

use reqwest::StatusCode;
use serde_json::json;

use super::{last_email, post_anon};
use crate::helpers::*;

#[tokio::test]
async fn password_reset_tokens_are_single_use_and_expire() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user");
    let session = app.token(email, PASSWORD, None).await;

    // Unknown accounts get the same 202 and no mail.
    let r = post_anon(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": "ghost@acme.test"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(last_email(&app, "ghost@acme.test", "password_reset").await.is_none());

    let r = post_anon(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": email, "tenant_slug": "acme"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let token = last_email(&app, email, "password_reset").await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let weak = post_anon(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": "short"}),
    )
    .await;
    weak.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let body = json!({"token": token, "new_password": "After-The-Reset-2026"});
    let r = post_anon(&app, "/api/v1/auth/password-reset/confirm", body.clone()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    post_anon(&app, "/api/v1/auth/password-reset/confirm", body)
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    app.get("/api/v1/auth/status", &session)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.login(email, PASSWORD, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.token(email, "After-The-Reset-2026", None).await;

    // An expired token is refused.
    post_anon(&app, "/api/v1/auth/password-reset/request", json!({"email": email})).await;
    let token = last_email(&app, email, "password_reset").await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(&mut su)
        .await
        .unwrap();
    let r = post_anon(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": "Too-Late-For-This-1"}),
    )
    .await;
    r.assert_problem(StatusCode::BAD_REQUEST);
}
