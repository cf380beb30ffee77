//! The tenant pages' permissions in the browser: a viewer sees the project
//! pages (projects:read) but no menu entry for the audit log or the overview,
//! and gets the 403 page on every direct URL it lacks the permission for.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use super::browser::{Browser, console_app};
use crate::helpers::*;

#[tokio::test]
async fn a_viewer_sees_no_entries_and_gets_403_on_direct_urls() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let r = app.post("/api/v1/projects", &token, json!({"name": "Alpha"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let project = r.body["id"].as_str().unwrap().to_string();
    let mut su = app.db.superuser().await;
    let audit_row: uuid::Uuid = sqlx::query_scalar("SELECT id FROM audit_logs WHERE tenant_id = $1 LIMIT 1")
        .bind(t.id)
        .fetch_one(&mut su)
        .await
        .unwrap();

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("viewer"), PASSWORD).await;
    let mut labels = Vec::new();
    for a in b.client.find_all(Locator::Css("nav a")).await.unwrap() {
        labels.push(a.text().await.unwrap());
    }
    assert!(labels.contains(&"Projects".to_string()), "{labels:?}");
    for hidden in ["Overview", "Audit log", "Users", "Roles"] {
        assert!(!labels.contains(&hidden.to_string()), "no {hidden} entry: {labels:?}");
    }
    for path in [
        "/audit".to_string(),
        format!("/audit/{audit_row}"),
        "/overview".to_string(),
        "/projects/new".to_string(),
        "/admin/users/invite".to_string(),
    ] {
        b.go(&path).await;
        let text = b.text().await;
        assert!(text.contains("You do not have access to this page."), "{path}: {text}");
    }
    // The project page opens, without the upload form or delete links.
    b.go(&format!("/projects/{project}")).await;
    let text = b.text().await;
    assert!(text.contains("Alpha") && text.contains("No documents yet."), "{text}");
    assert!(b.client.find(Locator::Id("upload-form")).await.is_err());

    // Posting to the JSON endpoints with the page's own CSRF token: 403 too.
    let csrf = b
        .js("return document.querySelector('input[name=csrf_token]').value;")
        .await;
    let cookie = b.session_cookie().await;
    for path in [
        format!("/projects/{project}/uploads"),
        "/admin/users/import/rows".to_string(),
        "/audit/verify".to_string(),
    ] {
        let res = app
            .client
            .post(app.url(&path))
            .header("cookie", &cookie)
            .header("x-csrf-token", csrf.as_str().unwrap())
            .header("content-type", "application/json")
            .body(r#"{"name":"x.txt","size_bytes":1,"rows":[{"line":1,"email":"a@b.test"}]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    b.close().await;
}
