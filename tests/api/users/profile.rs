//! The caller's own profile (`/users/me`) and sessions.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn me_reads_and_updates_own_names() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "viewer").await;
    let r = app.get("/api/v1/users/me", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["email"], t.email("viewer"));
    assert_eq!(r.body["roles"], json!(["viewer"]));
    assert_eq!(r.body["email_verified"], true);
    assert!(r.body.get("password_hash").is_none());
    let r = app
        .put("/api/v1/users/me", &token, json!({"first_name": "  Vera "}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["first_name"].as_str(), r.body["last_name"].as_str()),
        (Some("Vera"), Some("Tester"))
    );
    app.put("/api/v1/users/me", &token, json!({"is_active": false}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.put("/api/v1/users/me", &token, json!({"last_name": "x".repeat(101)}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Viewers hold no users:read.
    app.get("/api/v1/users", &token)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_are_listed_and_terminated() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let first = t.token(&app, "user").await;
    let second = t.token(&app, "user").await;
    let uid = t.user_id("user");
    let r = app.get(&format!("/api/v1/users/{uid}/sessions"), &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["items"][0]["active"], true);
    // project_manager has users:read but not users:update.
    let pm = t.token(&app, "project_manager").await;
    assert_eq!(
        app.get(&format!("/api/v1/users/{uid}/sessions"), &pm).await.status,
        StatusCode::OK
    );
    app.delete(&format!("/api/v1/users/{uid}/sessions"), &pm)
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    assert_eq!(
        app.delete(&format!("/api/v1/users/{uid}/sessions"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    for token in [&first, &second] {
        app.get("/api/v1/users/me", token)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.get(&format!("/api/v1/users/{uid}/sessions"), &admin).await.body["total"],
        0
    );
    // The account itself still works.
    assert_eq!(
        app.login(t.email("user"), PASSWORD, Some(&t.slug)).await.status,
        StatusCode::OK
    );
}
