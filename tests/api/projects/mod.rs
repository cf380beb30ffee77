//! Projects: CRUD with ETag/If-Match, filters and sort, the project limit under
//! concurrency, full-text search, activity, stats, and cross-tenant 404s over
//! every project, document and user route.

mod document_counts;
mod documents;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

pub async fn create_project(app: &TestApp, token: &str, name: &str, description: &str) -> Value {
    let r = app
        .post(
            "/api/v1/projects",
            token,
            json!({"name": name, "description": description}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

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
async fn project_limit_holds_under_concurrency() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE tenants SET max_projects = 5 WHERE id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    let token = t.token(&app, "project_manager").await;

    let attempts = (0..20).map(|i| {
        let (app, token) = (&app, token.clone());
        async move {
            app.post("/api/v1/projects", &token, json!({"name": format!("P{i}")}))
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(
        created,
        5,
        "statuses: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_problem(StatusCode::CONFLICT);
        assert!(
            r.body["detail"].as_str().unwrap().contains("Project limit"),
            "{}",
            r.body
        );
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(n, 5);
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
