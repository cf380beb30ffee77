//! Tokens: refresh rotation with reuse detection, logout and password change
//! killing access tokens at once, and forged tokens refused.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{count_rows, refresh};
use crate::helpers::*;

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let first = app.login(t.email("user"), PASSWORD, None).await.body;
    let r1 = first["refresh_token"].as_str().unwrap();

    let second = refresh(&app, r1).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let r2 = second.body["refresh_token"].as_str().unwrap();
    let access2 = second.body["access_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(app.get("/api/v1/auth/status", access2).await.status, StatusCode::OK);

    // The rotated token again: 401, and the family (r2 and its access token) dies.
    refresh(&app, r1).await.assert_problem(StatusCode::UNAUTHORIZED);
    refresh(&app, r2).await.assert_problem(StatusCode::UNAUTHORIZED);
    app.get("/api/v1/auth/status", access2)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let reuse =
        "SELECT count(*) FROM security_events WHERE user_id = $1 AND event_type = 'session.refresh_token_reused'";
    assert_eq!(count_rows(&app, reuse, t.user_id("user")).await, 1);

    // Garbage and expired sessions are 401 too.
    refresh(&app, "not-a-token")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let other = app.login(t.email("user"), PASSWORD, None).await.body;
    let mut su = app.db.superuser().await;
    sqlx::query(
        "UPDATE user_sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(t.user_id("user"))
    .execute(&mut su)
    .await
    .unwrap();
    refresh(&app, other["refresh_token"].as_str().unwrap())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_and_password_change_kill_access_tokens_at_once() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user");
    let login = app.login(email, PASSWORD, None).await.body;
    let access = login["access_token"].as_str().unwrap();
    let r = app.call(Method::POST, "/api/v1/auth/logout", Some(access), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    app.get("/api/v1/auth/status", access)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    refresh(&app, login["refresh_token"].as_str().unwrap())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    let keep = app.token(email, PASSWORD, None).await;
    let other = app.token(email, PASSWORD, None).await;
    let r = app
        .post(
            "/api/v1/auth/change-password",
            &keep,
            json!({"current_password": "nope-nope-nope", "new_password": "A-Brand-New-Passphrase-7"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/api/v1/auth/change-password",
            &keep,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "new_password");
    let r = app
        .post(
            "/api/v1/auth/change-password",
            &keep,
            json!({"current_password": PASSWORD, "new_password": "A-Brand-New-Passphrase-7"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    app.get("/api/v1/auth/status", &other)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/auth/status", &keep).await.status,
        StatusCode::OK,
        "the caller's own session stays"
    );
    app.login(email, PASSWORD, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.token(email, "A-Brand-New-Passphrase-7", None).await;
}

/// A token signed like ours, with `claims` and `header` as given.
fn sign(header: Value, claims: &Value, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{h}.{c}").as_bytes());
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let real = app.token(t.email("tenant_admin"), PASSWORD, None).await;
    assert_eq!(app.get("/api/v1/auth/status", &real).await.status, StatusCode::OK);
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(real.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let key = b"test-secret-key-0123456789abcdef0123456789";
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    // Sanity: re-signing the same claims with the real key is accepted.
    assert_eq!(
        app.get("/api/v1/auth/status", &sign(hs256.clone(), &claims, key))
            .await
            .status,
        StatusCode::OK
    );

    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let wrong_key = sign(hs256.clone(), &claims, b"another-secret-key-0123456789abcdef012345");
    let mut aud = claims.clone();
    aud["aud"] = json!("tenantry-mfa");
    let mut expired = claims.clone();
    expired["exp"] = json!(claims["iat"].as_i64().unwrap() - 10);
    let mut other_alg = hs256.clone();
    other_alg["alg"] = json!("HS512");
    let mut super_me = claims.clone();
    super_me["tid"] = json!(Uuid::from_u128(1));
    for (name, token) in [
        ("alg none", none),
        ("wrong key", wrong_key),
        ("wrong audience", sign(hs256.clone(), &aud, key)),
        ("expired", sign(hs256.clone(), &expired, key)),
        ("other algorithm", sign(other_alg, &claims, key)),
        ("other tenant", sign(hs256.clone(), &super_me, key)),
        ("garbage", "a.b.c".to_string()),
    ] {
        let r = app.get("/api/v1/auth/status", &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.body);
    }
}
