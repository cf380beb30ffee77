//! Reading and updating tenants: list with filter, sort and pages, get, the
//! update rules, and the stats.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::new_tenant;
use crate::helpers::*;

#[tokio::test]
async fn list_filter_sort_paginate_get_and_update() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    for slug in ["alpha", "bravo", "charlie"] {
        assert_eq!(
            app.post("/api/v1/tenants", &sa, new_tenant(slug)).await.status,
            StatusCode::CREATED
        );
    }
    let r = app.get("/api/v1/tenants?sort=slug&page_size=2", &sa).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 4); // + system
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["items"][0]["slug"], "alpha");
    let r = app
        .get("/api/v1/tenants?sort=-created_at,name&page=2&page_size=2", &sa)
        .await;
    assert_eq!(r.body["page"], 2);
    let r = app.get("/api/v1/tenants?search=RAV", &sa).await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["slug"], "bravo");
    app.get("/api/v1/tenants?sort=password", &sa)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    let id = r.body["items"][0]["id"].as_str().unwrap().to_string();
    let got = app.get(&format!("/api/v1/tenants/{id}"), &sa).await;
    assert_eq!(got.body["slug"], "bravo");
    app.get(&format!("/api/v1/tenants/{}", Uuid::new_v4()), &sa)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    let upd = app
        .put(
            &format!("/api/v1/tenants/{id}"),
            &sa,
            json!({"name": "Bravo Two", "limits": {"max_projects": 9}}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    assert_eq!(upd.body["name"], "Bravo Two");
    assert_eq!(upd.body["limits"]["max_projects"], 9);
    assert_eq!(upd.body["limits"]["max_users"], 7);
    // The slug is fixed once users exist.
    app.put(&format!("/api/v1/tenants/{id}"), &sa, json!({"slug": "bravo-new"}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    app.put(&format!("/api/v1/tenants/{id}"), &sa, json!({"settings": [1]}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let filtered = app.get("/api/v1/tenants?is_active=false", &sa).await;
    assert_eq!(filtered.body["total"], 0);

    // The system tenant cannot be deleted or deactivated.
    let system = "00000000-0000-0000-0000-000000000001";
    app.delete(&format!("/api/v1/tenants/{system}"), &sa)
        .await
        .assert_problem(StatusCode::CONFLICT);
    app.post(&format!("/api/v1/tenants/{system}/deactivate"), &sa, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    app.put(&format!("/api/v1/tenants/{system}"), &sa, json!({"is_active": false}))
        .await
        .assert_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn stats_count_users_projects_and_logins() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    t.token(&app, "viewer").await;
    let _ = app.login(t.email("viewer"), "wrong-password-123", Some("acme")).await;
    let r = app.get(&format!("/api/v1/tenants/{}/stats", t.id), &sa).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["users"]["total"], 4);
    assert_eq!(r.body["users"]["active"], 4);
    assert_eq!(r.body["logins"]["last_24h"], 1);
    assert_eq!(r.body["logins"]["failed_24h"], 1);
    assert_eq!(r.body["projects"], 0);
    app.get(&format!("/api/v1/tenants/{}/stats", Uuid::new_v4()), &sa)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let g = app.get("/api/v1/tenants/stats", &sa).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.body["tenants"]["total"], 2);
    assert!(g.body["users"]["total"].as_i64().unwrap() >= 5);
    let viewer = t.token(&app, "viewer").await;
    app.get("/api/v1/tenants/stats", &viewer)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}
