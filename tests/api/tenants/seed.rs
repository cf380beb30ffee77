//! The `seed` command: two tenants with working logins, created once.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn seed_creates_two_tenants_with_working_logins_once() {
    let app = TestApp::spawn().await;
    let logins = tenantry::seed::seed(&app.state)
        .await
        .unwrap()
        .expect("first run seeds");
    assert_eq!(logins.len(), 8);
    for l in logins.iter().filter(|l| l.role == "tenant_admin" || l.role == "viewer") {
        let token = app.token(&l.email, &l.password, Some(&l.tenant)).await;
        let projects = app.get("/api/v1/projects", &token).await;
        assert_eq!(projects.body["total"], 3, "{}", projects.body);
    }
    let globex_viewer = logins
        .iter()
        .find(|l| l.tenant == "globex" && l.role == "viewer")
        .unwrap();
    let token = app
        .token(&globex_viewer.email, &globex_viewer.password, Some("globex"))
        .await;
    app.post("/api/v1/projects", &token, json!({"name": "nope"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert!(
        tenantry::seed::seed(&app.state).await.unwrap().is_none(),
        "second run is a no-op"
    );
    let sa = app.super_admin_token().await;
    assert_eq!(app.get("/api/v1/tenants", &sa).await.body["total"], 3);
}
