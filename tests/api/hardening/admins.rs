//! "Not above yourself" (403) and the last tenant admin (409) on every route
//! that deactivates, changes, signs out or demotes a user.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{hardening::roles::staff, helpers::*};

/// Every catalogue permission, held through a custom role (not `tenant_admin`),
/// so the caller is never "below" anyone and only the last-admin rule applies.
const ALL: [&str; 22] = [
    "users:create",
    "users:read",
    "users:update",
    "users:delete",
    "users:invite",
    "projects:create",
    "projects:read",
    "projects:update",
    "projects:delete",
    "documents:create",
    "documents:read",
    "documents:update",
    "documents:delete",
    "documents:download",
    "tenant:manage",
    "tenant:billing",
    "roles:create",
    "roles:read",
    "roles:update",
    "roles:delete",
    "roles:assign",
    "audit:read",
];

/// A helpdesk that may manage users but holds only the viewer's other permissions.
const HELPDESK: [&str; 6] = [
    "users:read",
    "users:update",
    "users:delete",
    "roles:assign",
    "projects:read",
    "documents:read",
];

async fn is_active(app: &TestApp, user: Uuid) -> bool {
    sqlx::query_scalar("SELECT is_active FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap()
}

/// The status of each row of a bulk action, in order.
async fn bulk(app: &TestApp, token: &str, ids: &[Uuid], action: &str) -> Vec<u64> {
    let r = app
        .post(
            "/api/v1/users/bulk/action",
            token,
            json!({"user_ids": ids, "action": action}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect()
}

// --- Not above yourself -------------------------------------------------------

#[tokio::test]
async fn helpdesk_cannot_deactivate_a_user_above_it_by_delete() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, desk) = staff(&app, &t, "helpdesk", &HELPDESK).await;
    let admin = t.user_id("tenant_admin");
    app.delete(&format!("/api/v1/users/{admin}"), &desk)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert!(is_active(&app, admin).await);
    let viewer = t.user_id("viewer");
    assert_eq!(
        app.delete(&format!("/api/v1/users/{viewer}"), &desk).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn helpdesk_cannot_change_or_deactivate_a_user_above_it_by_put() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, desk) = staff(&app, &t, "helpdesk", &HELPDESK).await;
    let admin = t.user_id("tenant_admin");
    for body in [json!({"is_active": false}), json!({"first_name": "Pwned"})] {
        app.put(&format!("/api/v1/users/{admin}"), &desk, body)
            .await
            .assert_problem(StatusCode::FORBIDDEN);
    }
    let r = app.get(&format!("/api/v1/users/{admin}"), &desk).await;
    assert_eq!(
        (r.body["is_active"].as_bool(), r.body["first_name"].as_str()),
        (Some(true), Some("tenant_admin"))
    );
    let viewer = t.user_id("viewer");
    let ok = app
        .put(
            &format!("/api/v1/users/{viewer}"),
            &desk,
            json!({"first_name": "Vic", "is_active": false}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn helpdesk_cannot_end_the_sessions_of_a_user_above_it() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, desk) = staff(&app, &t, "helpdesk", &HELPDESK).await;
    let admin_token = t.token(&app, "tenant_admin").await;
    let admin = t.user_id("tenant_admin");
    app.delete(&format!("/api/v1/users/{admin}/sessions"), &desk)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/users/me", &admin_token).await.status, StatusCode::OK);
    let viewer = t.user_id("viewer");
    let r = app.delete(&format!("/api/v1/users/{viewer}/sessions"), &desk).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn helpdesk_bulk_actions_refuse_only_the_rows_above_it() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, desk) = staff(&app, &t, "helpdesk", &HELPDESK).await;
    let admin_token = t.token(&app, "tenant_admin").await;
    let (admin, pm, viewer) = (
        t.user_id("tenant_admin"),
        t.user_id("project_manager"),
        t.user_id("viewer"),
    );
    assert_eq!(
        bulk(&app, &desk, &[admin, viewer], "terminate_sessions").await,
        [403, 200]
    );
    assert_eq!(app.get("/api/v1/users/me", &admin_token).await.status, StatusCode::OK);
    assert_eq!(
        bulk(&app, &desk, &[admin, pm, viewer], "deactivate").await,
        [403, 403, 200]
    );
    assert!(is_active(&app, admin).await && is_active(&app, pm).await);
    assert!(!is_active(&app, viewer).await);
    // Reactivating or unlocking someone above is a change too.
    sqlx::query("UPDATE users SET is_active = false, locked_until = now() + interval '1 hour' WHERE id = $1")
        .bind(pm)
        .execute(&mut app.db.superuser().await)
        .await
        .unwrap();
    assert_eq!(bulk(&app, &desk, &[pm, viewer], "activate").await, [403, 200]);
    assert_eq!(bulk(&app, &desk, &[pm], "unlock").await, [403]);
    assert!(!is_active(&app, pm).await);
}

#[tokio::test]
async fn helpdesk_cannot_remove_a_role_from_a_user_above_it() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, desk) = staff(&app, &t, "helpdesk", &HELPDESK).await;
    let admin_token = t.token(&app, "tenant_admin").await;
    let (admin, viewer_role) = (t.user_id("tenant_admin"), t.roles["viewer"]);
    let r = app
        .post(
            &format!("/api/v1/users/{admin}/roles"),
            &admin_token,
            json!({"role_id": viewer_role}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.delete(&format!("/api/v1/users/{admin}/roles/{viewer_role}"), &desk)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    let viewer = t.user_id("viewer");
    let r = app
        .delete(&format!("/api/v1/users/{viewer}/roles/{viewer_role}"), &desk)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}

// --- The last tenant admin ----------------------------------------------------

#[tokio::test]
async fn the_last_admin_cannot_be_deactivated_by_delete_or_put() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, root) = staff(&app, &t, "root", &ALL).await;
    let admin = t.user_id("tenant_admin");
    app.delete(&format!("/api/v1/users/{admin}"), &root)
        .await
        .assert_problem(StatusCode::CONFLICT);
    app.put(&format!("/api/v1/users/{admin}"), &root, json!({"is_active": false}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    assert!(is_active(&app, admin).await);
    // With a second admin, either route works.
    let r = app
        .post(
            &format!("/api/v1/users/{}/roles", t.user_id("user")),
            &root,
            json!({"role_id": t.roles["tenant_admin"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .put(&format!("/api/v1/users/{admin}"), &root, json!({"is_active": false}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.delete(&format!("/api/v1/users/{}", t.user_id("user")), &root)
        .await
        .assert_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn bulk_deactivate_keeps_the_last_admin_and_does_the_rest() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, root) = staff(&app, &t, "root", &ALL).await;
    let (admin, viewer) = (t.user_id("tenant_admin"), t.user_id("viewer"));
    assert_eq!(bulk(&app, &root, &[viewer, admin], "deactivate").await, [200, 409]);
    assert!(is_active(&app, admin).await);
    assert!(!is_active(&app, viewer).await);
}

#[tokio::test]
async fn the_last_admin_keeps_the_role_and_it_cannot_be_made_to_expire() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let (_, root) = staff(&app, &t, "root", &ALL).await;
    let admin_token = t.token(&app, "tenant_admin").await;
    let (admin, role) = (t.user_id("tenant_admin"), t.roles["tenant_admin"]);
    for token in [&root, &admin_token] {
        app.delete(&format!("/api/v1/users/{admin}/roles/{role}"), token)
            .await
            .assert_problem(StatusCode::CONFLICT);
    }
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    app.post(
        &format!("/api/v1/users/{admin}/roles"),
        &root,
        json!({"role_id": role, "expires_at": soon}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    let expiry: Option<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT expires_at FROM user_roles WHERE user_id = $1 AND role_id = $2")
            .bind(admin)
            .bind(role)
            .fetch_one(&mut app.db.superuser().await)
            .await
            .unwrap();
    assert_eq!(expiry, None, "the assignment stays permanent");
}

/// Three admins of a fresh tenant removed at once by three routes; answers
/// how many removals succeeded, how many were refused and the admins left.
async fn remove_three_admins_at_once(app: &TestApp, slug: &str) -> (usize, usize, i64) {
    let t = app.seed_tenant(slug).await;
    let (_, root) = staff(app, &t, "root", &ALL).await;
    let role = t.roles["tenant_admin"];
    let admins = [t.user_id("tenant_admin"), t.user_id("user"), t.user_id("viewer")];
    for id in &admins[1..] {
        let r = app
            .post(&format!("/api/v1/users/{id}/roles"), &root, json!({"role_id": role}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let root = root.as_str();
    let call = |method: Method, path: String, body: Option<Value>| async move {
        app.call(method, &path, Some(root), body).await
    };
    let (a, b, c) = tokio::join!(
        call(Method::DELETE, format!("/api/v1/users/{}", admins[0]), None),
        call(
            Method::PUT,
            format!("/api/v1/users/{}", admins[1]),
            Some(json!({"is_active": false}))
        ),
        call(
            Method::DELETE,
            format!("/api/v1/users/{}/roles/{role}", admins[2]),
            None
        ),
    );
    let statuses = [a.status, b.status, c.status];
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    let done = statuses.iter().filter(|s| s.is_success()).count();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_roles ur JOIN users u ON u.id = ur.user_id \
         WHERE ur.role_id = $1 AND u.is_active",
    )
    .bind(role)
    .fetch_one(&mut app.db.superuser().await)
    .await
    .unwrap();
    (done, refused, left)
}

/// Without the lock, all three removals pass in about a third of the rounds;
/// four rounds make a regression very likely to show.
#[tokio::test]
async fn concurrent_removals_on_different_routes_leave_one_admin() {
    let app = TestApp::spawn().await;
    for round in 0..4 {
        let outcome = remove_three_admins_at_once(&app, &format!("race{round}")).await;
        assert_eq!(outcome, (2, 1, 1), "round {round}: (removed, refused, admins left)");
    }
}
