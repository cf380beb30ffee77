//! Security headers set by a handler win over the middleware's defaults: an
//! uploaded `text/html` document is served with the download's own
//! `sandbox; default-src 'none'`, never with the Swagger page's policy
//! (`script-src 'unsafe-inline'`), which would run the uploader's script on our origin.

use reqwest::StatusCode;
use serde_json::json;

use crate::{helpers::TestApp, projects::create_project};

/// Uploads `bytes` as a document of type `content_type` (local storage); returns its id.
pub async fn upload(app: &TestApp, token: &str, name: &str, content_type: &str, bytes: &[u8]) -> String {
    let project = create_project(app, token, &format!("Project for {name}"), "").await;
    let r = app
        .post(
            "/api/v1/projects/documents/upload",
            token,
            json!({"project_id": project["id"], "name": name, "content_type": content_type,
                   "size_bytes": bytes.len()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let put = app
        .client
        .put(r.body["upload_url"].as_str().unwrap())
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "PUT: {}", put.status());
    let id = r.body["document"]["id"].as_str().unwrap().to_string();
    let done = app
        .post(
            &format!("/api/v1/projects/documents/{id}/upload-complete"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    id
}

/// The raw response of `GET /documents/{id}/download`.
pub async fn download(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/projects/documents/{id}/download")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_html_document_keeps_the_downloads_sandbox_policy() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let html = b"<html><body><script>fetch('/api/v1/users/me')</script></body></html>";
    let id = upload(&app, &token, "page.html", "text/html", html).await;

    let r = download(&app, &token, &id).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html");
    let csp: Vec<_> = h.get_all("content-security-policy").iter().collect();
    assert_eq!(csp, ["sandbox; default-src 'none'"], "{h:?}");
    assert_eq!(h["cache-control"], "private, no-store");
    assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment"));
    // The other defaults still apply.
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(r.bytes().await.unwrap().as_ref(), html);
}

#[tokio::test]
async fn responses_without_their_own_policy_still_get_the_defaults() {
    let app = TestApp::spawn().await;
    // Swagger UI (HTML, needs its inline bootstrap) and a JSON answer.
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let csp = docs.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    let h = health.headers();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
}
