//! The projects' `document_count`, kept by triggers on documents (migration
//! 20261205140000) rather than counted per row: it follows every path that adds
//! or removes documents, and counting them leaves the project's `updated_at`
//! and version alone.

use reqwest::StatusCode;
use serde_json::json;

use super::create_project;
use crate::helpers::*;

#[tokio::test]
async fn document_counts_follow_creates_uploads_and_deletes() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "project_manager").await;
    let p = create_project(&app, &token, "Counted", "").await;
    let other = create_project(&app, &token, "Other", "").await;
    let pid = p["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/projects/{pid}");
    assert_eq!(p["document_count"], 0);

    let mut docs = Vec::new();
    for name in ["a.txt", "b.txt"] {
        let r = app
            .post(&format!("{path}/documents"), &token, json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        docs.push(r.body["id"].as_str().unwrap().to_string());
    }
    super::documents::upload_local(&app, &token, &pid, "c.bin", b"bytes").await;

    let r = app.get(&path, &token).await;
    assert_eq!(r.body["document_count"], 3, "{}", r.body);
    assert_eq!(r.body["updated_at"], p["updated_at"], "counting is not an edit");
    assert_eq!(r.body["version"], p["version"]);
    let count_in_list = |body: &serde_json::Value, id: &str| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["document_count"].clone())
    };
    let list = app.get("/api/v1/projects", &token).await.body;
    assert_eq!(count_in_list(&list, &pid), Some(json!(3)));
    assert_eq!(count_in_list(&list, other["id"].as_str().unwrap()), Some(json!(0)));

    let r = app
        .delete(&format!("/api/v1/projects/documents/{}", docs[0]), &token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.get(&path, &token).await.body["document_count"], 2);

    // The stored counter matches a real count, and an edit still moves updated_at.
    let mut su = app.db.superuser().await;
    let (stored, counted): (i32, i64) = sqlx::query_as(
        "SELECT p.document_count, (SELECT count(*) FROM documents d WHERE d.project_id = p.id) \
         FROM projects p WHERE p.id = $1::uuid",
    )
    .bind(&pid)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!((stored, counted), (2, 2));
    let r = app.put(&path, &token, json!({"description": "edited"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(r.body["updated_at"], p["updated_at"]);
    assert_eq!(r.body["document_count"], 2);

    // Deleting the project takes its documents with it (the cascade's count
    // updates find no row and must not fail).
    assert_eq!(app.delete(&path, &token).await.status, StatusCode::NO_CONTENT);
    app.get(&path, &token).await.assert_problem(StatusCode::NOT_FOUND);
}

/// The tenant's `document_count` (migration 20261205190000) behind the
/// dashboard's document total: it follows drafts, uploads, deletions and a
/// project's cascade, and the dashboard answers the real count of every
/// tenant's documents.
#[tokio::test]
async fn the_tenant_document_counter_and_the_dashboard_follow_every_path() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let acme = app.seed_tenant("acme").await;
    let globex = app.seed_tenant("globex").await;
    let a = acme.token(&app, "project_manager").await;
    let g = globex.token(&app, "project_manager").await;
    let check = |step: &'static str| {
        let app = &app;
        let sa = &sa;
        async move {
            let mut su = app.db.superuser().await;
            let wrong: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT t.slug, t.document_count, (SELECT count(*) FROM documents d WHERE d.tenant_id = t.id) AS n \
                 FROM tenants t WHERE t.document_count <> (SELECT count(*) FROM documents d WHERE d.tenant_id = t.id)",
            )
            .fetch_all(&mut su)
            .await
            .unwrap();
            assert!(wrong.is_empty(), "{step}: counters off: {wrong:?}");
            let total: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
                .fetch_one(&mut su)
                .await
                .unwrap();
            let d = app.get("/api/v1/admin/dashboard", sa).await;
            assert_eq!(d.status, StatusCode::OK, "{}", d.body);
            assert_eq!(d.body["documents"], total, "{step}: {}", d.body);
            total
        }
    };
    let base = check("seeded").await;

    let pa = create_project(&app, &a, "Counted", "").await;
    let pa = pa["id"].as_str().unwrap().to_string();
    let pg = create_project(&app, &g, "Elsewhere", "").await;
    let pg = pg["id"].as_str().unwrap().to_string();
    let mut drafts = Vec::new();
    for name in ["a.txt", "b.txt"] {
        let r = app
            .post(&format!("/api/v1/projects/{pa}/documents"), &a, json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        drafts.push(r.body["id"].as_str().unwrap().to_string());
    }
    super::documents::upload_local(&app, &a, &pa, "c.bin", b"bytes").await;
    super::documents::upload_local(&app, &g, &pg, "d.bin", b"bytes").await;
    assert_eq!(check("created and uploaded").await, base + 4);

    let r = app
        .delete(&format!("/api/v1/projects/documents/{}", drafts[0]), &a)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(check("one deleted").await, base + 3);

    let r = app.delete(&format!("/api/v1/projects/{pa}"), &a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(check("a project's cascade").await, base + 1);
}
