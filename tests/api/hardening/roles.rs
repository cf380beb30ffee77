//! "Nobody grants what they do not hold" on every path that gives roles or
//! permissions: create-user, bulk create, invitations (checked when made),
//! role assignment, role creation and role editing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// A user of `t` holding only a new custom role `name` with `perms`, created by
/// the tenant admin; answers the user's id and access token.
pub(crate) async fn staff(app: &TestApp, t: &SeededTenant, name: &str, perms: &[&str]) -> (Uuid, String) {
    let admin = t.token(app, "tenant_admin").await;
    let r = app
        .post("/api/v1/roles", &admin, json!({"name": name, "permissions": perms}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let email = format!("{name}@{}.test", t.slug);
    let r = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": email, "first_name": name, "last_name": "Staff",
                   "password": PASSWORD, "role_names": [name]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().parse().unwrap();
    (id, app.token(&email, PASSWORD, Some(&t.slug)).await)
}

/// The viewer role's permissions, so a caller may give `viewer` but nothing more.
const VIEWER: [&str; 2] = ["projects:read", "documents:read"];

fn with_viewer(extra: &str) -> Vec<&str> {
    let mut p = VIEWER.to_vec();
    p.push(extra);
    p
}

async fn user_count(app: &TestApp, tenant: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn create_user_cannot_give_roles_beyond_the_caller() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, hr) = staff(&app, &t, "hr", &with_viewer("users:create")).await;
    let before = user_count(&app, t.id).await;
    let body = |email: &str, roles: Value| {
        json!({"email": email, "first_name": "Eve", "last_name": "Minted",
               "password": "Minted-Account-Pass-1", "role_names": roles})
    };
    let r = app
        .post(
            "/api/v1/auth/create-user",
            &hr,
            body("eve@acme.test", json!(["tenant_admin"])),
        )
        .await;
    r.assert_problem(StatusCode::FORBIDDEN);
    assert!(
        r.body["detail"].as_str().unwrap().contains("tenant:manage"),
        "{}",
        r.body
    );
    // The default role (`user`) is a grant too: hr lacks projects:create.
    let mut no_roles = body("eve@acme.test", json!(null));
    no_roles.as_object_mut().unwrap().remove("role_names");
    app.post("/api/v1/auth/create-user", &hr, no_roles)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(user_count(&app, t.id).await, before, "nothing was created");
    // What the caller holds can be given.
    let ok = app
        .post(
            "/api/v1/auth/create-user",
            &hr,
            body("val@acme.test", json!(["viewer"])),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(ok.body["roles"], json!(["viewer"]));
}

#[tokio::test]
async fn bulk_create_refuses_only_the_rows_that_escalate() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, hr) = staff(&app, &t, "hr", &with_viewer("users:create")).await;
    let r = app
        .post(
            "/api/v1/users/bulk/create",
            &hr,
            json!({"users": [
                {"email": "boss@acme.test", "role_names": ["tenant_admin"]},
                {"email": "val@acme.test", "role_names": ["viewer"]},
                {"email": "pm@acme.test", "role_names": ["viewer", "project_manager"]},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let created: Vec<&str> = r.body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(created, ["val@acme.test"], "{}", r.body);
    let errors: Vec<(u64, u64)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(errors, [(0, 403), (2, 403)], "{}", r.body);
}

#[tokio::test]
async fn invitations_cannot_promise_roles_beyond_the_inviter() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, recruiter) = staff(&app, &t, "recruiter", &with_viewer("users:invite")).await;
    let r = app
        .post(
            "/api/v1/users/invite",
            &recruiter,
            json!({"email": "boss@example.com", "role_names": ["tenant_admin"]}),
        )
        .await;
    r.assert_problem(StatusCode::FORBIDDEN);
    app.post("/api/v1/users/invite", &recruiter, json!({"email": "boss@example.com"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM invitations WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap();
    assert_eq!(open, 0, "no invitation was stored");

    // A permitted invitation is honoured at acceptance as decided then.
    let r = app
        .post(
            "/api/v1/users/invite",
            &recruiter,
            json!({"email": "val@example.com", "role_names": ["viewer"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token: String = sqlx::query_scalar(
        "SELECT context->>'token' FROM email_outbox WHERE template = 'invitation' AND to_email = 'val@example.com'",
    )
    .fetch_one(&mut app.db.superuser().await)
    .await
    .unwrap();
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/accept-invitation",
            None,
            Some(json!({"token": token, "password": "Invited-And-Happy-1", "first_name": "Val"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let status = app
        .get("/api/v1/auth/status", r.body["access_token"].as_str().unwrap())
        .await;
    let mut perms: Vec<&str> = status.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    perms.sort();
    assert_eq!(perms, ["documents:read", "projects:read"], "{}", status.body);
}

#[tokio::test]
async fn role_assignment_cannot_give_more_than_the_caller_holds() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (me, clerk) = staff(&app, &t, "clerk", &with_viewer("roles:assign")).await;
    let viewer = t.user_id("viewer");
    for (user, role) in [(me, "tenant_admin"), (viewer, "project_manager"), (viewer, "user")] {
        let r = app
            .post(
                &format!("/api/v1/users/{user}/roles"),
                &clerk,
                json!({"role_id": t.roles[role]}),
            )
            .await;
        r.assert_problem(StatusCode::FORBIDDEN);
    }
    let ok = app
        .post(
            &format!("/api/v1/users/{}/roles", t.user_id("user")),
            &clerk,
            json!({"role_id": t.roles["viewer"]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
}

#[tokio::test]
async fn roles_cannot_be_created_or_edited_beyond_the_caller() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let (_, designer) = staff(
        &app,
        &t,
        "designer",
        &["roles:create", "roles:update", "roles:read", "projects:read"],
    )
    .await;
    app.post(
        "/api/v1/roles",
        &designer,
        json!({"name": "shadow-admin", "permissions": ["users:delete", "projects:read"]}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/roles",
            &designer,
            json!({"name": "reader", "permissions": ["projects:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let reader = r.body["id"].as_str().unwrap().to_string();

    // Adding a permission one lacks is refused; so is taking one away.
    app.put(
        &format!("/api/v1/roles/{reader}"),
        &designer,
        json!({"permissions": ["projects:read", "tenant:manage"]}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "auditor", "permissions": ["audit:read"]}),
        )
        .await;
    let auditor = r.body["id"].as_str().unwrap().to_string();
    app.put(
        &format!("/api/v1/roles/{auditor}"),
        &designer,
        json!({"permissions": []}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    let r = app.get(&format!("/api/v1/roles/{reader}"), &admin).await;
    assert_eq!(r.body["permissions"], json!(["projects:read"]));
    let ok = app
        .put(
            &format!("/api/v1/roles/{reader}"),
            &designer,
            json!({"description": "Reads projects"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}
