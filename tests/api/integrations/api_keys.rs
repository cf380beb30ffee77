//! API keys: minting within the caller's permissions, authenticating with one,
//! and the audit actor a key leaves behind.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Mints a key as `token`'s user; returns the 201 body.
pub async fn mint(app: &TestApp, token: &str, name: &str, permissions: &[&str]) -> Value {
    let r = app
        .post(
            "/api/v1/api-keys",
            token,
            json!({"name": name, "permissions": permissions}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn a_read_only_key_lists_projects_but_cannot_create_one() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let created = mint(&app, &admin, "ci reader", &["projects:read"]).await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("tnt_") && key.len() > 40, "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["permissions"], json!(["projects:read"]));

    let r = app.get("/api/v1/projects", key).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.post("/api/v1/projects", key, json!({"name": "nope"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    // A person's own routes are not a key's.
    app.get("/api/v1/users/me", key)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    app.post(
        "/api/v1/auth/change-password",
        key,
        json!({"current_password": PASSWORD, "new_password": "Another-Passw0rd!x"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    // Nor is the platform's.
    app.get("/api/v1/tenants", key)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    // A made-up key, and a key of the right shape that was never minted.
    app.get("/api/v1/projects", "tnt_nope")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_hold_no_more_than_their_creator_and_bad_input_is_refused() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let role = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "key manager", "permissions": ["tenant:manage", "projects:read"]}),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{:?}", role.body);
    let viewer = t.user_id("viewer");
    let r = app
        .post(
            &format!("/api/v1/users/{viewer}/roles"),
            &admin,
            json!({"role_id": role.body["id"]}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let manager = t.token(&app, "viewer").await;

    app.post(
        "/api/v1/api-keys",
        &manager,
        json!({"name": "escalate", "permissions": ["projects:read", "projects:create"]}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    mint(&app, &manager, "reader", &["projects:read"]).await;

    app.post(
        "/api/v1/api-keys",
        &admin,
        json!({"name": "x", "permissions": ["projects:fly"]}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/api/v1/api-keys",
        &admin,
        json!({"name": "reader", "permissions": ["projects:read"]}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    app.post(
        "/api/v1/api-keys",
        &admin,
        json!({"name": "old", "permissions": ["projects:read"], "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Without tenant:manage there is no key at all.
    let user = t.token(&app, "user").await;
    app.get("/api/v1/api-keys", &user)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_change_made_with_a_key_is_audited_as_the_key_and_the_key_never_shows_again() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let created = mint(&app, &admin, "deployer", &["projects:create", "projects:read"]).await;
    let key = created["key"].as_str().unwrap().to_string();

    let p = app.post("/api/v1/projects", &key, json!({"name": "Made by CI"})).await;
    assert_eq!(p.status, StatusCode::CREATED, "{:?}", p.body);
    let logs = app.get("/api/v1/audit/logs?action=project.created", &admin).await;
    assert_eq!(logs.status, StatusCode::OK);
    let row = &logs.body["items"][0];
    assert_eq!(row["actor_id"], Value::Null, "{row}");
    let mut c = app.db.superuser().await;
    let principal: Option<String> =
        sqlx::query_scalar("SELECT actor_principal FROM audit_logs WHERE action = 'project.created'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(principal.as_deref(), Some("api_key:deployer"));

    let list = app.get("/api/v1/api-keys", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 1);
    let item = &list.body["items"][0];
    assert_eq!(item["status"], "active");
    assert!(item["last_used_at"].is_string(), "last_used_at set: {item}");
    assert!(item.get("key").is_none());

    // The key's text appears nowhere after creation: not in lists, not in audit.
    let everything = [
        list.body.to_string(),
        app.get("/api/v1/audit/logs?page_size=100", &admin)
            .await
            .body
            .to_string(),
    ];
    for text in everything {
        assert!(!text.contains(&key), "the key leaked: {text}");
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs WHERE old_values::text LIKE '%' || $1 || '%' \
         OR new_values::text LIKE '%' || $1 || '%'",
    )
    .bind(&key)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(stored, 0);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_logs WHERE resource_type = 'api_key'")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(actions, ["api_key.created"]);
}
