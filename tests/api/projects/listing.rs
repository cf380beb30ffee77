//! Reading many projects: filters, sort and permissions, full-text search and
//! the stats by status and content type.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::create_project;
use crate::helpers::*;

#[tokio::test]
async fn list_filters_sort_and_permissions() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "project_manager").await;
    for (name, status) in [("Bravo", "active"), ("alpha", "archived"), ("Charlie 50%", "active")] {
        let r = app
            .post("/api/v1/projects", &token, json!({"name": name, "status": status}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let names = |r: &Resp| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/api/v1/projects?sort=name", &token).await;
    assert_eq!(names(&r), ["alpha", "Bravo", "Charlie 50%"]);
    assert_eq!(r.body["total"], 3);
    let r = app.get("/api/v1/projects?sort=-name&page=1&page_size=2", &token).await;
    assert_eq!(names(&r), ["Charlie 50%", "Bravo"]);
    assert_eq!(
        (
            r.body["page"].as_i64(),
            r.body["page_size"].as_i64(),
            r.body["total"].as_i64()
        ),
        (Some(1), Some(2), Some(3))
    );
    // A page past the end still reports the total (unfiltered: the tenant's counter).
    let r = app.get("/api/v1/projects?page=5&page_size=2", &token).await;
    assert_eq!((names(&r).len(), r.body["total"].as_i64()), (0, Some(3)));
    let r = app.get("/api/v1/projects?status=active&sort=name", &token).await;
    assert_eq!(names(&r), ["Bravo", "Charlie 50%"]);
    // A full filtered page counts the matches.
    let r = app
        .get("/api/v1/projects?status=active&sort=name&page_size=1", &token)
        .await;
    assert_eq!(
        (names(&r), r.body["total"].as_i64()),
        (vec!["Bravo".to_string()], Some(2))
    );
    let r = app
        .get("/api/v1/projects?status=active&page=3&page_size=1", &token)
        .await;
    assert_eq!((names(&r).len(), r.body["total"].as_i64()), (0, Some(2)));
    let r = app.get("/api/v1/projects?search=50%25", &token).await;
    assert_eq!(names(&r), ["Charlie 50%"]);
    let r = app.get("/api/v1/projects?search=ALP", &token).await;
    assert_eq!(names(&r), ["alpha"]);
    app.get("/api/v1/projects?sort=password_hash", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/projects?status=nope", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Viewers read but cannot write; nobody unauthenticated gets in.
    let viewer = t.token(&app, "viewer").await;
    assert_eq!(app.get("/api/v1/projects", &viewer).await.status, StatusCode::OK);
    app.post("/api/v1/projects", &viewer, json!({"name": "x"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    let r = app.call(Method::GET, "/api/v1/projects", None, None).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn search_ranks_names_over_descriptions_and_finds_description_words() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "project_manager").await;
    let in_desc = create_project(&app, &token, "Quarterly report", "Numbers about the zeppelin fleet").await;
    let in_name = create_project(&app, &token, "Zeppelin hangar", "Where the airships sleep").await;
    create_project(&app, &token, "Unrelated", "Nothing to see").await;
    let r = app
        .post(
            &format!("/api/v1/projects/{}/documents", in_desc["id"].as_str().unwrap()),
            &token,
            json!({"name": "Manual", "description": "How to inflate zeppelins safely"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let doc_id = r.body["id"].clone();

    let viewer = t.token(&app, "viewer").await;
    let r = app
        .post("/api/v1/projects/search", &viewer, json!({"query": "zeppelins"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let hits = r.body["items"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{}", r.body);
    // The name match (weight A) outranks description matches (weight B).
    assert_eq!(hits[0]["id"], in_name["id"]);
    assert_eq!(hits[0]["type"], "project");
    assert!(hits.iter().any(|h| h["id"] == in_desc["id"]));
    let doc = hits.iter().find(|h| h["type"] == "document").expect("document hit");
    assert_eq!(doc["id"], doc_id);
    assert_eq!(doc["project_id"], in_desc["id"]);
    assert!(
        doc["snippet"].as_str().unwrap().contains("<b>zeppelins</b>"),
        "{}",
        doc["snippet"]
    );
    assert!(hits[0]["rank"].as_f64().unwrap() >= hits[2]["rank"].as_f64().unwrap());

    let r = app
        .post(
            "/api/v1/projects/search",
            &viewer,
            json!({"query": "zeppelin", "types": ["documents"]}),
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    // The hits' own singular `type` names work as filters too.
    let r = app
        .post(
            "/api/v1/projects/search",
            &viewer,
            json!({"query": "zeppelin", "types": ["document"]}),
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
    let r = app
        .post("/api/v1/projects/search", &viewer, json!({"query": "airship -hangar"}))
        .await;
    assert_eq!(r.body["total"], 0);
    app.post("/api/v1/projects/search", &viewer, json!({"query": " "}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/api/v1/projects/search",
        &viewer,
        json!({"query": "x", "types": ["users"]}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant's search sees none of it.
    let other = app.seed_tenant("other").await;
    let other_token = other.token(&app, "viewer").await;
    let r = app
        .post("/api/v1/projects/search", &other_token, json!({"query": "zeppelin"}))
        .await;
    assert_eq!(r.body["total"], 0);
}

#[tokio::test]
async fn stats_count_by_status_and_content_type() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "project_manager").await;
    let p = create_project(&app, &token, "A", "").await;
    create_project(&app, &token, "B", "").await;
    let pid = p["id"].as_str().unwrap();
    app.put(
        &format!("/api/v1/projects/{pid}"),
        &token,
        json!({"status": "archived"}),
    )
    .await;
    for ct in ["application/pdf", "application/pdf", "text/plain"] {
        let r = app
            .post(
                &format!("/api/v1/projects/{pid}/documents"),
                &token,
                json!({"name": "d", "content_type": ct}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = app.get("/api/v1/projects/stats", &t.token(&app, "viewer").await).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["projects"]["total"], 2);
    assert_eq!(r.body["projects"]["by_status"]["archived"], 1);
    assert_eq!(r.body["projects"]["by_status"]["active"], 1);
    assert_eq!(r.body["documents"]["total"], 3);
    assert_eq!(r.body["documents"]["by_status"]["draft"], 3);
    assert_eq!(
        r.body["documents"]["by_content_type"][0],
        json!({"content_type": "application/pdf", "count": 2, "bytes": 0})
    );
    assert_eq!(r.body["storage"]["used_bytes"], 0);
    assert_eq!(r.body["storage"]["limit_bytes"], 10737418240i64);
}
