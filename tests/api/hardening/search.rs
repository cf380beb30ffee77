//! Search and activity (issue 13, item 7): a `snippet` is HTML whose stored
//! text is escaped (`<b>` around matches is its only markup), and document
//! hits and activity entries need `documents:read` as well as `projects:read`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const EVIL: &str = "Roadmap <img src=x onerror=alert(1)> and \"quotes\" & <script>alert(2)</script> roadmap";

async fn create_project(app: &TestApp, token: &str, name: &str, description: &str) -> String {
    let r = app
        .post(
            "/api/v1/projects",
            token,
            json!({"name": name, "description": description}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn search(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app
        .post("/api/v1/projects/search", token, json!({"query": query}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn snippets_escape_stored_markup_and_keep_the_highlight() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let pid = create_project(&app, &token, "Plans", EVIL).await;
    let r = app
        .post(
            &format!("/api/v1/projects/{pid}/documents"),
            &token,
            json!({"name": "Notes", "description": EVIL}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let hits = search(&app, &token, "roadmap").await;
    assert_eq!(hits.len(), 2, "{hits:?}");
    for hit in &hits {
        let snippet = hit["snippet"].as_str().unwrap();
        assert!(snippet.contains("<b>Roadmap</b>"), "{snippet}");
        let markup_removed = snippet.replace("<b>", "").replace("</b>", "");
        assert!(!markup_removed.contains('<'), "live markup in {snippet}");
        assert!(!markup_removed.contains('>'), "live markup in {snippet}");
        assert!(snippet.contains("&lt;img src=x onerror=alert(1)&gt;"), "{snippet}");
        assert!(snippet.contains("&quot;quotes&quot; &amp;"), "{snippet}");
        // The stored description itself is returned as it was written (JSON, not HTML).
        assert_eq!(hit["description"], EVIL);
    }
}

#[tokio::test]
async fn the_openapi_document_says_what_a_snippet_is() {
    let app = TestApp::spawn().await;
    let doc = app.public_json("/openapi.json").await;
    let snippet = &doc["components"]["schemas"]["SearchHit"]["properties"]["snippet"]["description"];
    assert!(snippet.as_str().unwrap_or_default().contains("escaped"), "{snippet}");
}

/// A user whose only permission is `projects:read`; answers a token.
async fn projects_only_reader(app: &TestApp, admin: &str) -> String {
    let r = app
        .post(
            "/api/v1/roles",
            admin,
            json!({"name": "project_browser", "permissions": ["projects:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "/api/v1/auth/create-user",
            admin,
            json!({"email": "browser@acme.test", "first_name": "B", "last_name": "Rowser",
                "password": "A-Fine-Passphrase-42", "role_names": ["project_browser"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.token("browser@acme.test", "A-Fine-Passphrase-42", Some("acme"))
        .await
}

/// Seeds one project and one document that both match "quarterly".
async fn project_and_document(app: &TestApp, token: &str) {
    let pid = create_project(app, token, "Quarterly plan", "The quarterly plan").await;
    let r = app
        .post(
            &format!("/api/v1/projects/{pid}/documents"),
            token,
            json!({"name": "Quarterly secret figures", "description": "quarterly numbers"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

fn kinds(items: &[Value], key: &str) -> Vec<String> {
    let mut k: Vec<String> = items.iter().map(|i| i[key].as_str().unwrap().to_string()).collect();
    k.sort();
    k.dedup();
    k
}

#[tokio::test]
async fn search_hits_for_documents_need_documents_read() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    project_and_document(&app, &admin).await;
    let browser = projects_only_reader(&app, &admin).await;

    assert_eq!(kinds(&search(&app, &browser, "quarterly").await, "type"), ["project"]);
    let r = app
        .post(
            "/api/v1/projects/search",
            &browser,
            json!({"query": "quarterly", "types": ["documents"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 0, "{}", r.body);
    // A viewer holds documents:read and sees both.
    let viewer = t.token(&app, "viewer").await;
    assert_eq!(
        kinds(&search(&app, &viewer, "quarterly").await, "type"),
        ["document", "project"]
    );
}

#[tokio::test]
async fn activity_entries_for_documents_need_documents_read() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    project_and_document(&app, &admin).await;
    let browser = projects_only_reader(&app, &admin).await;

    let r = app.get("/api/v1/projects/activity", &browser).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(kinds(items, "resource_type"), ["project"], "{}", r.body);
    assert_eq!(r.body["total"], items.len());
    let r = app
        .get("/api/v1/projects/activity?resource_type=document", &browser)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 0, "{}", r.body);

    let viewer = t.token(&app, "viewer").await;
    let r = app.get("/api/v1/projects/activity", &viewer).await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(kinds(items, "resource_type"), ["document", "project"], "{}", r.body);
}
