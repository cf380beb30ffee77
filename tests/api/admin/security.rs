//! Threats (credential stuffing from real failed sign-ins), problematic users
//! and unlock.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn threats_show_credential_stuffing_and_unlock_works() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    // One IP tries one password against many accounts (and one account many times).
    for i in 0..6 {
        let r = app
            .login(&format!("victim{i}@nowhere.test"), "Summer2026!!", None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..5 {
        app.login(t.email("user"), "Wrong-Password-99", Some("acme")).await;
    }
    let r = app.get("/api/v1/admin/security/threats?window_minutes=30", &sa).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let stuffing = r.body["credential_stuffing"].as_array().unwrap();
    let src = stuffing
        .iter()
        .find(|s| s["ip_address"] == "127.0.0.1")
        .expect("127.0.0.1 flagged");
    assert!(src["distinct_emails"].as_i64().unwrap() >= 7, "{src}");
    let attacked = r.body["accounts_under_attack"].as_array().unwrap();
    assert!(attacked.iter().any(|a| a["email"] == t.email("user")), "{attacked:?}");
    let locked = r.body["recent_lockouts"].as_array().unwrap();
    assert!(
        locked
            .iter()
            .any(|l| l["email"] == t.email("user") && l["currently_locked"] == true),
        "{locked:?}"
    );
    app.get("/api/v1/admin/security/threats?window_minutes=0", &sa)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    let problems = app.get("/api/v1/admin/users/problematic?reason=locked", &sa).await;
    assert_eq!(problems.status, StatusCode::OK, "{}", problems.body);
    assert_eq!(problems.body["total"], 1);
    assert_eq!(problems.body["items"][0]["email"], t.email("user"));
    app.get("/api/v1/admin/users/problematic?reason=bogus", &sa)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Locked: even the right password fails until a super admin unlocks.
    app.login(t.email("user"), PASSWORD, Some("acme"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let u = app
        .post(
            &format!("/api/v1/admin/users/{}/unlock", t.user_id("user")),
            &sa,
            json!({}),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);
    assert_eq!(u.body["unlocked"], true);
    t.token(&app, "user").await;
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT jsonb_typeof(old_values->'locked_until') FROM audit_logs \
         WHERE tenant_id = $1 AND action = 'user.unlocked'",
    )
    .bind(t.id)
    .fetch_all(&mut app.db.superuser().await)
    .await
    .unwrap();
    assert_eq!(audited, ["string"], "one row, the lock instant as RFC 3339 text");
    app.post(
        &format!("/api/v1/admin/users/{}/unlock", Uuid::new_v4()),
        &sa,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
}
