//! API keys end: revoked (here and on another instance), expired, their tenant
//! deactivated; they shrink with their creator and end with the creator's account.

use reqwest::StatusCode;
use serde_json::json;

use super::api_keys::mint;
use crate::helpers::*;

#[tokio::test]
async fn a_revoked_key_is_refused_here_at_once_and_on_another_instance() {
    let app = TestApp::spawn_with(TestConfig::default().set("AUTH_CACHE_TTL_MS", "1000")).await;
    let other = TestApp::spawn_on(
        TestDb::new().await,
        TestConfig::default()
            .set("AUTH_CACHE_TTL_MS", "1000")
            .set("DATABASE_URL", &app.db.url),
    )
    .await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let created = mint(&app, &admin, "ci", &["projects:read"]).await;
    let key = created["key"].as_str().unwrap();
    // Both instances have the key cached.
    assert_eq!(app.get("/api/v1/projects", key).await.status, StatusCode::OK);
    assert_eq!(other.get("/api/v1/projects", key).await.status, StatusCode::OK);

    let id = created["id"].as_str().unwrap();
    let r = app.delete(&format!("/api/v1/api-keys/{id}"), &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.get("/api/v1/projects", key)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let revoked = std::time::Instant::now();
    loop {
        let status = other.get("/api/v1/projects", key).await.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(revoked.elapsed().as_millis() < 1500, "still accepted past the 1 s TTL");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = app.get("/api/v1/api-keys", &admin).await;
    assert_eq!(list.body["items"][0]["status"], "revoked");
    assert!(list.body["items"][0]["revoked_at"].is_string());
    let mut c = app.db.superuser().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE action = 'api_key.revoked'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn expired_keys_and_keys_of_a_deactivated_tenant_are_refused() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let mut c = app.db.superuser().await;

    let expiring = mint(&app, &admin, "short", &["projects:read"]).await;
    let key = expiring["key"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/projects", key).await.status, StatusCode::OK);
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE name = 'short'")
        .execute(&mut c)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // past the cache TTL
    app.get("/api/v1/projects", key)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let list = app.get("/api/v1/api-keys", &admin).await;
    assert_eq!(list.body["items"][0]["status"], "expired");

    let by_admin = mint(&app, &admin, "tenant wide", &["projects:read"]).await;
    let key = by_admin["key"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/projects", key).await.status, StatusCode::OK);
    let sa = app.super_admin_token().await;
    let r = app
        .post(&format!("/api/v1/tenants/{}/deactivate", t.id), &sa, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.get("/api/v1/projects", key)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_shrinks_with_its_creator() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let key = mint(&app, &admin, "audit reader", &["audit:read", "projects:read"]).await["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/api/v1/audit/logs", &key).await.status, StatusCode::OK);
    // The creator is demoted to viewer (projects:read, no audit:read).
    let mut c = app.db.superuser().await;
    sqlx::query("UPDATE user_roles SET role_id = $1 WHERE user_id = $2")
        .bind(t.roles["viewer"])
        .bind(t.user_id("tenant_admin"))
        .execute(&mut c)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // past the cache TTL
    app.get("/api/v1/audit/logs", &key)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/projects", &key).await.status, StatusCode::OK);
    sqlx::query("UPDATE users SET is_active = false WHERE id = $1")
        .bind(t.user_id("tenant_admin"))
        .execute(&mut c)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.get("/api/v1/projects", &key)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}
