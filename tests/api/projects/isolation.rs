//! Cross-tenant access: 404 on every project, document and user route.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{create_project, documents};
use crate::helpers::*;

/// Every project, document and user route, called by tenant B with tenant A's
/// ids, answers 404 — and A's data is unchanged afterwards.
#[tokio::test]
async fn cross_tenant_access_is_404_on_every_route() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    let a_token = a.token(&app, "tenant_admin").await;
    let b_token = b.token(&app, "tenant_admin").await;

    let project = create_project(&app, &a_token, "Secret", "alpha only").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/api/v1/projects/{pid}/documents"),
            &a_token,
            json!({"name": "plan.txt"}),
        )
        .await;
    let did = r.body["id"].as_str().unwrap().to_string();
    let uploaded = documents::upload_local(&app, &a_token, &pid, "data.bin", b"alpha bytes").await;
    let uid_doc = uploaded["id"].as_str().unwrap().to_string();
    let user = a.user_id("user");

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/projects/{pid}"), None),
        (
            Method::PUT,
            format!("/api/v1/projects/{pid}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/api/v1/projects/{pid}"), None),
        (
            Method::POST,
            format!("/api/v1/projects/{pid}/documents"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            "/api/v1/projects/documents/upload".into(),
            Some(json!({"project_id": pid, "name": "x", "content_type": "text/plain", "size_bytes": 3})),
        ),
        (Method::GET, format!("/api/v1/projects/documents/{did}"), None),
        (
            Method::PUT,
            format!("/api/v1/projects/documents/{did}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/api/v1/projects/documents/{did}"), None),
        (
            Method::POST,
            format!("/api/v1/projects/documents/{did}/upload-complete"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/projects/documents/{uid_doc}/download"),
            None,
        ),
        (Method::DELETE, format!("/api/v1/projects/documents/{uid_doc}"), None),
        (Method::GET, format!("/api/v1/users/{user}"), None),
        (
            Method::PUT,
            format!("/api/v1/users/{user}"),
            Some(json!({"first_name": "pwned", "is_active": false})),
        ),
        (Method::DELETE, format!("/api/v1/users/{user}"), None),
        (Method::GET, format!("/api/v1/users/{user}/sessions"), None),
        (Method::DELETE, format!("/api/v1/users/{user}/sessions"), None),
        (Method::GET, format!("/api/v1/users/{user}/security"), None),
    ];
    for (method, path, body) in routes {
        let r = app.call(method.clone(), &path, Some(&b_token), body).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path} → {}: {}",
            r.status,
            r.body
        );
        r.assert_problem(StatusCode::NOT_FOUND);
    }
    // Lists and bulk actions of B never reach A's rows.
    let r = app
        .get(&format!("/api/v1/projects/documents?project_id={pid}"), &b_token)
        .await;
    assert_eq!(r.body["total"], 0);
    assert_eq!(app.get("/api/v1/projects", &b_token).await.body["total"], 0);
    let r = app.get("/api/v1/users?search=alpha", &b_token).await;
    assert_eq!(r.body["total"], 0);
    let r = app
        .post(
            "/api/v1/users/bulk/action",
            &b_token,
            json!({"user_ids": [user], "action": "deactivate"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["results"][0]["status"], 404);

    // A's data is untouched and A still works.
    let r = app.get(&format!("/api/v1/projects/{pid}"), &a_token).await;
    assert_eq!((r.status, r.body["name"].as_str()), (StatusCode::OK, Some("Secret")));
    assert_eq!(
        app.get(&format!("/api/v1/projects/documents/{did}"), &a_token)
            .await
            .body["name"],
        "plan.txt"
    );
    let r = app.get(&format!("/api/v1/users/{user}"), &a_token).await;
    assert_eq!(
        (r.body["is_active"].as_bool(), r.body["first_name"].as_str()),
        (Some(true), Some("user"))
    );
    let r = app
        .get(&format!("/api/v1/projects/documents/{uid_doc}/download"), &a_token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.login(a.email("user"), PASSWORD, Some(&a.slug)).await.status,
        StatusCode::OK
    );
}
