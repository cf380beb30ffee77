//! The platform's audit verification: a tampered row is detected.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn audit_verify_detects_a_tampered_row() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    for name in ["one", "two", "three"] {
        app.post("/api/v1/roles", &admin, json!({"name": name, "permissions": []}))
            .await;
    }
    let ok = app
        .get(&format!("/api/v1/admin/audit/verify?tenant_id={}", t.id), &sa)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["valid"], true);
    assert!(ok.body["rows_checked"].as_i64().unwrap() >= 3);

    let mut c = app.db.superuser().await;
    sqlx::raw_sql("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable")
        .execute(&mut c)
        .await
        .unwrap();
    let (tampered, seq): (Uuid, i64) = sqlx::query_as(
        "UPDATE audit_logs SET new_values = '{\"name\":\"forged\"}' WHERE tenant_id = $1 AND id = \
         (SELECT id FROM audit_logs WHERE tenant_id = $1 AND action = 'role.created' ORDER BY seq OFFSET 1 LIMIT 1) \
         RETURNING id, seq",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    sqlx::raw_sql("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_immutable")
        .execute(&mut c)
        .await
        .unwrap();

    let bad = app
        .get(&format!("/api/v1/admin/audit/verify?tenant_id={}", t.id), &sa)
        .await;
    assert_eq!(bad.body["valid"], false, "{}", bad.body);
    assert_eq!(bad.body["first_broken_id"], tampered.to_string());
    assert_eq!(bad.body["first_broken_seq"], seq);
    let all = app.get("/api/v1/admin/audit/verify", &sa).await;
    assert_eq!(all.body["valid"], false);
    assert_eq!(all.body["first_broken_tenant_id"], t.id.to_string());
    app.get(&format!("/api/v1/admin/audit/verify?tenant_id={}", Uuid::new_v4()), &sa)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // Cross-tenant search with filters; tenant admins only see their own at /audit/logs.
    let logs = app
        .get(
            &format!("/api/v1/admin/audit/logs?tenant_id={}&action=role.created", t.id),
            &sa,
        )
        .await;
    assert_eq!(logs.body["total"], 3, "{}", logs.body);
    let own = app.get("/api/v1/audit/logs", &admin).await;
    assert!(
        own.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant_id"] == t.id.to_string())
    );
    app.get("/api/v1/admin/audit/logs", &admin)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}
