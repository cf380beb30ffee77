//! Document metadata: create, read, update with If-Match, delete.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{helpers::*, projects::create_project};

#[tokio::test]
async fn document_metadata_crud_with_if_match() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project(&app, &token, "P", "").await;
    let pid = p["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/projects/{pid}/documents"),
            &token,
            json!({"name": "Spec", "description": "v1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["content_type"].as_str()),
        (Some("draft"), Some("application/octet-stream"))
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    let path = format!("/api/v1/projects/documents/{}", r.body["id"].as_str().unwrap());

    let stale = |etag: &'static str, body: Value| {
        let (app, token, path) = (&app, token.clone(), path.clone());
        async move {
            Resp::from(
                app.client
                    .put(app.url(&path))
                    .bearer_auth(token)
                    .header("If-Match", etag)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = stale("\"1\"", json!({"description": "v2", "content_type": "text/markdown"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    stale("\"1\"", json!({"description": "lost update"}))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED);
    stale("\"2\"", json!({"content_type": "not a type"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    let r = app
        .get(
            &format!("/api/v1/projects/documents?project_id={pid}&search=spe"),
            &token,
        )
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["description"], "v2");
    app.get("/api/v1/projects/documents?sort=storage_key", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        &format!("/api/v1/projects/{}/documents", Uuid::new_v4()),
        &token,
        json!({"name": "x"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);

    // `user` may not delete documents; a project manager may.
    app.delete(&path, &token).await.assert_problem(StatusCode::FORBIDDEN);
    let pm = t.token(&app, "project_manager").await;
    assert_eq!(app.delete(&path, &pm).await.status, StatusCode::NO_CONTENT);
    app.get(&path, &pm).await.assert_problem(StatusCode::NOT_FOUND);
}
