//! Audit export: every matching row, streamed with its chain fields.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn export(app: &TestApp, path: &str, token: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn a_tenant_exports_its_chain_as_ndjson_and_csv_with_filters() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let other = app.seed_tenant("other").await;
    let admin = t.token(&app, "tenant_admin").await;
    for name in ["One", "Two"] {
        let r = app.post("/api/v1/projects", &admin, json!({"name": name})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let other_admin = other.token(&app, "tenant_admin").await;
    app.post("/api/v1/projects", &other_admin, json!({"name": "Theirs"}))
        .await;

    let (status, headers, text) = export(&app, "/api/v1/audit/export", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert!(headers.get("content-length").is_none(), "streamed");
    let rows = lines(&text);
    let mut c = app.db.superuser().await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, total);
    assert!(total >= 2);
    for pair in rows.windows(2) {
        assert_eq!(pair[0]["tenant_id"], t.id.to_string());
        assert_eq!(pair[1]["seq"].as_i64().unwrap(), pair[0]["seq"].as_i64().unwrap() + 1);
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "the chain links");
    }
    for row in &rows {
        assert_eq!(row["hash"].as_str().unwrap().len(), 64);
        assert!(row.get("actor_principal").is_some());
        assert!(row["created_at"].as_str().unwrap().ends_with('Z'));
    }

    let (_, _, text) = export(
        &app,
        "/api/v1/audit/export?action=project.created&format=ndjson",
        &admin,
    )
    .await;
    let created = lines(&text);
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["new_values"]["name"], "One");
    let (_, _, text) = export(&app, "/api/v1/audit/export?resource_type=nothing", &admin).await;
    assert!(text.is_empty());
    let (_, _, text) = export(&app, "/api/v1/audit/export?from=2999-01-01", &admin).await;
    assert!(text.is_empty());

    let (status, headers, csv) = export(&app, "/api/v1/audit/export?format=csv&action=project.created", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let mut records = csv.split("\r\n");
    assert_eq!(
        records.next().unwrap(),
        "tenant_id,seq,id,created_at,actor_id,impersonator_id,actor_principal,action,resource_type,resource_id,\
         old_values,new_values,ip_address,user_agent,request_id,prev_hash,hash"
    );
    let first = records.next().unwrap();
    // JSON values hold commas and quotes: quoted, inner quotes doubled.
    assert!(first.contains(",\"{\"\""), "{first}");
    assert_eq!(csv.matches("\r\n").count(), 3, "header and two rows");

    // Without audit:read: 403; a bad format: a 4xx, never a stream.
    let user = t.token(&app, "user").await;
    let (status, _, _) = export(&app, "/api/v1/audit/export", &user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = export(&app, "/api/v1/audit/export?format=xml", &admin).await;
    assert!(status.is_client_error(), "{status}");
}

#[tokio::test]
async fn the_super_admin_exports_any_tenant() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    app.post("/api/v1/projects", &admin, json!({"name": "One"})).await;
    let sa = app.super_admin_token().await;
    let (status, _, text) = export(&app, &format!("/api/v1/admin/audit/export?tenant_id={}", t.id), &sa).await;
    assert_eq!(status, StatusCode::OK);
    let rows = lines(&text);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["tenant_id"] == t.id.to_string()));
    assert!(rows.iter().any(|r| r["action"] == "project.created"));
    let (status, _, _) = export(&app, &format!("/api/v1/admin/audit/export?tenant_id={}", t.id), &admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
