//! Deactivation (live tokens die, sign-in refused) and deletion (every row of the
//! tenant goes).

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::{ADMIN_PASSWORD, count, new_tenant};
use crate::helpers::*;

/// Every tenant-owned row of `tenant`, summed over the tenant tables.
async fn rows_of_tenant(app: &TestApp, tenant: Uuid) -> i64 {
    let mut c = app.db.superuser().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c JOIN information_schema.tables t \
         USING (table_schema, table_name) WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' \
         AND t.table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut total = count(app, "SELECT count(*) FROM tenants WHERE id = $1", tenant).await;
    for t in tables {
        total += count(app, &format!("SELECT count(*) FROM {t} WHERE tenant_id = $1"), tenant).await;
    }
    total
}

#[tokio::test]
async fn deactivation_kills_live_tokens_and_refuses_sign_in() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    assert_eq!(app.get("/api/v1/auth/status", &token).await.status, StatusCode::OK);

    let r = app
        .post(&format!("/api/v1/tenants/{}/deactivate", t.id), &sa, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["is_active"], false);
    app.get("/api/v1/auth/status", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.login(t.email("user"), PASSWORD, Some("acme"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let live = count(
        &app,
        "SELECT count(*) FROM user_sessions WHERE tenant_id = $1 AND revoked_at IS NULL",
        t.id,
    )
    .await;
    assert_eq!(live, 0);

    let r = app
        .post(&format!("/api/v1/tenants/{}/activate", t.id), &sa, json!({}))
        .await;
    assert_eq!(r.body["is_active"], true);
    // The old token stays dead; a fresh sign-in works.
    app.get("/api/v1/auth/status", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let fresh = t.token(&app, "user").await;
    assert_eq!(app.get("/api/v1/auth/status", &fresh).await.status, StatusCode::OK);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_logs WHERE tenant_id = $1 ORDER BY seq")
        .bind(t.id)
        .fetch_all(&mut app.db.superuser().await)
        .await
        .unwrap();
    assert!(actions.contains(&"tenant.deactivated".to_string()) && actions.contains(&"tenant.activated".to_string()));
}

#[tokio::test]
async fn delete_removes_every_row_of_the_tenant() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let r = app.post("/api/v1/tenants", &sa, new_tenant("gone")).await;
    let id: Uuid = r.body["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let admin = app.token("boss@gone.test", ADMIN_PASSWORD, Some("gone")).await;
    let role = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "auditor", "permissions": ["audit:read"]}),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.body);
    assert!(rows_of_tenant(&app, id).await > 10);
    // A stored file of the tenant (and one of another tenant that must stay).
    let storage = &app.state.storage;
    let key = tenantry::storage::Storage::document_key(id, Uuid::new_v4());
    storage
        .put(&key, bytes::Bytes::from_static(b"tenant bytes"))
        .await
        .unwrap();
    let keep = app.seed_tenant("kept").await;
    let kept_before = rows_of_tenant(&app, keep.id).await;

    assert_eq!(
        app.delete(&format!("/api/v1/tenants/{id}"), &sa).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(rows_of_tenant(&app, id).await, 0);
    assert_eq!(
        storage.size(&key).await.unwrap(),
        None,
        "stored files go with the tenant"
    );
    assert_eq!(rows_of_tenant(&app, keep.id).await, kept_before);
    app.get("/api/v1/auth/status", &admin)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.delete(&format!("/api/v1/tenants/{id}"), &sa)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let deleted = count(
        &app,
        "SELECT count(*) FROM audit_logs WHERE tenant_id = '00000000-0000-0000-0000-000000000001' \
         AND action = 'tenant.deleted' AND resource_id = $1::text",
        id,
    )
    .await;
    assert_eq!(deleted, 1);
}
