//! The endpoints API: create (secret once), validation, SSRF refusals,
//! permissions and tenant isolation.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, TestConfig};

fn private_ok() -> TestConfig {
    TestConfig::default().set("WEBHOOK_ALLOW_PRIVATE", "true")
}

#[tokio::test]
async fn create_shows_the_secret_once_and_validates_event_types() {
    let app = TestApp::spawn_with(private_ok()).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "tenant_admin").await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &token,
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["project.created"], "description": "ci"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let id = r.body["id"].as_str().unwrap().to_string();
    let got = app.get(&format!("/api/v1/webhooks/{id}"), &token).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.get("secret").is_none());
    assert!(!got.body.to_string().contains(secret));
    let list = app.get("/api/v1/webhooks", &token).await;
    assert_eq!(list.body["total"], 1);

    let types = app.get("/api/v1/webhooks/event-types", &token).await;
    let types = types.body["event_types"].as_array().unwrap();
    assert!(types.contains(&json!("user.created")) && types.contains(&json!("project.updated")));

    let bad = app
        .post(
            "/api/v1/webhooks",
            &token,
            json!({"url": "http://127.0.0.1:9/", "event_types": ["project.exploded"]}),
        )
        .await;
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let star = app
        .post(
            "/api/v1/webhooks",
            &token,
            json!({"url": "http://127.0.0.1:9/", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(star.status, StatusCode::CREATED);

    let upd = app
        .put(
            &format!("/api/v1/webhooks/{id}"),
            &token,
            json!({"event_types": ["user.created"], "enabled": false}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK);
    assert_eq!(upd.body["event_types"], json!(["user.created"]));
    assert_eq!(upd.body["enabled"], false);
    let del = app.delete(&format!("/api/v1/webhooks/{id}"), &token).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    app.get(&format!("/api/v1/webhooks/{id}"), &token)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn internal_targets_are_refused_without_webhook_allow_private() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "tenant_admin").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://localhost:8080/hook",
        "http://10.0.0.7/hook",
        "ftp://example.com/hook",
    ] {
        let r = app
            .post("/api/v1/webhooks", &token, json!({"url": url, "event_types": ["*"]}))
            .await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["errors"][0]["field"], "url", "{url}: {:?}", r.body);
    }
}

#[tokio::test]
async fn only_tenant_managers_see_only_their_own_webhooks() {
    let app = TestApp::spawn_with(private_ok()).await;
    let a = app.seed_tenant("acme").await;
    let b = app.seed_tenant("other").await;
    let admin_a = a.token(&app, "tenant_admin").await;
    let admin_b = b.token(&app, "tenant_admin").await;
    let user_a = a.token(&app, "project_manager").await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &admin_a,
            json!({"url": "http://127.0.0.1:9/", "event_types": ["*"]}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();

    for (method, path) in [
        ("GET", "/api/v1/webhooks".to_string()),
        ("GET", "/api/v1/webhooks/event-types".to_string()),
        ("GET", format!("/api/v1/webhooks/{id}")),
        ("POST", format!("/api/v1/webhooks/{id}/rotate-secret")),
        ("GET", format!("/api/v1/webhooks/{id}/deliveries")),
    ] {
        let r = app.call(method.parse().unwrap(), &path, Some(&user_a), None).await;
        r.assert_problem(StatusCode::FORBIDDEN);
    }
    app.post(
        "/api/v1/webhooks",
        &user_a,
        json!({"url": "http://127.0.0.1:9/", "event_types": ["*"]}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);

    for path in [
        format!("/api/v1/webhooks/{id}"),
        format!("/api/v1/webhooks/{id}/deliveries"),
    ] {
        app.get(&path, &admin_b).await.assert_problem(StatusCode::NOT_FOUND);
    }
    app.post(&format!("/api/v1/webhooks/{id}/test"), &admin_b, json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.delete(&format!("/api/v1/webhooks/{id}"), &admin_b)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/webhooks", &admin_b).await.body["total"], 0);
}
