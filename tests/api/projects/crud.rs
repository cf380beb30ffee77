//! One project's lifecycle: create, read, update with ETag/If-Match, delete.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn put_if_match(app: &TestApp, path: &str, token: &str, etag: &str, body: Value) -> Resp {
    let r = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .header("If-Match", etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

#[tokio::test]
async fn project_crud_with_etag_and_if_match() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "project_manager").await;

    let r = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "  Apollo  ", "description": "Moon", "status": "on_hold"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.body["name"], "Apollo");
    assert_eq!(r.body["status"], "on_hold");
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/projects/{id}");

    let r = app.get(&path, &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("etag"), Some("\"1\""));

    let r = put_if_match(&app, &path, &token, "\"1\"", json!({"description": "To the moon"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["name"], "Apollo");
    assert_eq!(r.body["description"], "To the moon");

    // A writer still holding version 1 is refused instead of overwriting.
    let r = put_if_match(&app, &path, &token, "\"1\"", json!({"name": "Stale"})).await;
    r.assert_problem(StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.get(&path, &token).await.body["name"], "Apollo");

    // Without If-Match the write is unconditional; fields the API does not know
    // (here, the rest of a GET response sent back) are ignored.
    let r = app
        .put(
            &path,
            &token,
            json!({"status": "completed", "id": id, "version": 1, "color": "red"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"3\""));
    assert_eq!(r.body["status"], "completed");

    // Validation.
    app.post("/api/v1/projects", &token, json!({"name": "  "}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post("/api/v1/projects", &token, json!({"name": "x", "status": "flying"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.put(&path, &token, json!({"name": ""}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/projects/not-a-uuid", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Stale If-Match on delete; then delete.
    let r = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&token)
        .header("If-Match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.delete(&path, &token).await.status, StatusCode::NO_CONTENT);
    app.get(&path, &token).await.assert_problem(StatusCode::NOT_FOUND);

    // Every mutation left an audit row with old and new values.
    let admin = t.token(&app, "tenant_admin").await;
    let r = app.get("/api/v1/projects/activity?page_size=100", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let actions: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "project.deleted",
            "project.updated",
            "project.updated",
            "project.created"
        ]
    );
    let update = &r.body["items"][2];
    assert_eq!(update["old_values"]["description"], "Moon");
    assert_eq!(update["new_values"]["description"], "To the moon");
    assert_eq!(update["actor_email"], t.email("project_manager"));

    let r = app
        .post("/api/v1/projects", &token, json!({"name": "Extra", "owner": "someone"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "unknown fields are ignored: {}", r.body);
}
