//! Roles, permissions and assignments: catalogue-only grants, system-role
//! protection, expiring assignments and the sweeper, tenant confinement and
//! no escalation beyond one's own permissions.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::*;

async fn permissions_of(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.get("/api/v1/auth/status", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn permission_catalogue_needs_roles_read() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let r = app.get("/api/v1/permissions", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 22);
    assert!(names.contains(&"documents:download") && names.contains(&"audit:read"));
    let viewer = t.token(&app, "viewer").await;
    app.get("/api/v1/permissions", &viewer)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    app.get("/api/v1/roles", &viewer)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn custom_roles_crud_and_system_role_protection() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;

    let r = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "auditor", "description": "Reads the log",
            "permissions": ["audit:read", "users:read", "audit:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["permissions"], json!(["audit:read", "users:read"]));
    assert_eq!(r.body["is_system"], false);
    let id = r.body["id"].as_str().unwrap().to_string();

    let bad = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "x", "permissions": ["projects:fly"]}),
        )
        .await;
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["field"], "permissions[0]");
    app.post("/api/v1/roles", &admin, json!({"name": "bad/name"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post("/api/v1/roles", &admin, json!({"name": "auditor"}))
        .await
        .assert_problem(StatusCode::CONFLICT);

    let upd = app
        .put(
            &format!("/api/v1/roles/{id}"),
            &admin,
            json!({"name": "auditors", "permissions": ["audit:read"]}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    assert_eq!(upd.body["name"], "auditors");
    assert_eq!(upd.body["permissions"], json!(["audit:read"]));
    app.put(
        &format!("/api/v1/roles/{id}"),
        &admin,
        json!({"permissions": ["nope:nope"]}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // System roles: no rename, no permission change, no delete; description is fine.
    let viewer_role = t.roles["viewer"];
    app.put(
        &format!("/api/v1/roles/{viewer_role}"),
        &admin,
        json!({"name": "lurker"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    app.put(
        &format!("/api/v1/roles/{viewer_role}"),
        &admin,
        json!({"permissions": ["projects:read"]}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    let d = app
        .put(
            &format!("/api/v1/roles/{viewer_role}"),
            &admin,
            json!({"description": "Read only"}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    app.delete(&format!("/api/v1/roles/{viewer_role}"), &admin)
        .await
        .assert_problem(StatusCode::CONFLICT);

    // A role still assigned cannot be deleted; after removal it can.
    let user = t.user_id("viewer");
    let a = app
        .post(&format!("/api/v1/users/{user}/roles"), &admin, json!({"role_id": id}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["role_name"], "auditors");
    let viewer = t.token(&app, "viewer").await;
    assert!(permissions_of(&app, &viewer).await.contains(&"audit:read".to_string()));
    let c = app.delete(&format!("/api/v1/roles/{id}"), &admin).await;
    c.assert_problem(StatusCode::CONFLICT);
    assert_eq!(c.body["assignments"], 1);
    assert_eq!(
        app.delete(&format!("/api/v1/users/{user}/roles/{id}"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // Revocation applies to the live token at once.
    assert!(!permissions_of(&app, &viewer).await.contains(&"audit:read".to_string()));
    app.delete(&format!("/api/v1/users/{user}/roles/{id}"), &admin)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&format!("/api/v1/roles/{id}"), &admin).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("/api/v1/roles/{id}"), &admin)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_logs WHERE tenant_id = $1 AND resource_type IN ('role', 'user') ORDER BY seq",
    )
    .bind(t.id)
    .fetch_all(&mut app.db.superuser().await)
    .await
    .unwrap();
    for a in [
        "role.created",
        "role.updated",
        "role.assigned",
        "role.revoked",
        "role.deleted",
    ] {
        assert!(actions.iter().any(|x| x == a), "missing {a} in {actions:?}");
    }
}

#[tokio::test]
async fn expiring_assignment_stops_granting_and_is_swept() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let viewer = t.token(&app, "viewer").await;
    let user = t.user_id("viewer");
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let expires = expires.format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = app
        .post(
            &format!("/api/v1/users/{user}/roles"),
            &admin,
            json!({"role_id": t.roles["project_manager"], "expires_at": expires}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(
        permissions_of(&app, &viewer)
            .await
            .contains(&"projects:delete".to_string())
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !permissions_of(&app, &viewer)
            .await
            .contains(&"projects:delete".to_string())
    );

    let swept = tenantry::rbac::sweeper::sweep_expired_assignments(&tenantry::jobs::role_sweeper(&app.state.db))
        .await
        .unwrap();
    assert_eq!(swept, 1);
    let mut c = app.db.superuser().await;
    let (actor, resource): (Option<Uuid>, Option<String>) = sqlx::query_as(
        "SELECT actor_id, resource_id FROM audit_logs WHERE tenant_id = $1 AND action = 'role.assignment_expired'",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!((actor, resource), (None, Some(user.to_string())));
    // Instants in audit values are RFC 3339 text, not the `time` crate's tuples.
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, jsonb_typeof(COALESCE(new_values, old_values)->'expires_at') FROM audit_logs \
         WHERE tenant_id = $1 AND action IN ('role.assigned', 'role.assignment_expired') ORDER BY seq",
    )
    .bind(t.id)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            ("role.assigned".to_string(), "string".to_string()),
            ("role.assignment_expired".to_string(), "string".to_string())
        ]
    );
    assert_eq!(
        tenantry::rbac::sweeper::sweep_expired_assignments(&tenantry::jobs::role_sweeper(&app.state.db))
            .await
            .unwrap(),
        0
    );

    // Past expiry is refused.
    app.post(
        &format!("/api/v1/users/{user}/roles"),
        &admin,
        json!({"role_id": t.roles["user"], "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn assignments_stay_inside_the_tenant_and_cannot_escalate() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("acme").await;
    let b = app.seed_tenant("globex").await;
    let admin_a = a.token(&app, "tenant_admin").await;

    // Another tenant's role or user is invisible: 404.
    app.post(
        &format!("/api/v1/users/{}/roles", a.user_id("viewer")),
        &admin_a,
        json!({"role_id": b.roles["tenant_admin"]}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    app.post(
        &format!("/api/v1/users/{}/roles", b.user_id("viewer")),
        &admin_a,
        json!({"role_id": a.roles["viewer"]}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    app.get(&format!("/api/v1/roles/{}", b.roles["viewer"]), &admin_a)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.delete(
        &format!("/api/v1/users/{}/roles/{}", b.user_id("viewer"), b.roles["viewer"]),
        &admin_a,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);

    // A delegated role manager cannot grant more than they hold.
    let r = app
        .post(
            "/api/v1/roles",
            &admin_a,
            json!({"name": "role-clerk", "permissions": ["roles:assign", "roles:read", "roles:create"]}),
        )
        .await;
    let clerk_role = r.body["id"].as_str().unwrap().to_string();
    let clerk = a.user_id("user");
    app.post(
        &format!("/api/v1/users/{clerk}/roles"),
        &admin_a,
        json!({"role_id": clerk_role}),
    )
    .await;
    let clerk_token = a.token(&app, "user").await;
    app.post(
        &format!("/api/v1/users/{clerk}/roles"),
        &clerk_token,
        json!({"role_id": a.roles["tenant_admin"]}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    app.post(
        "/api/v1/roles",
        &clerk_token,
        json!({"name": "sneaky", "permissions": ["tenant:manage"]}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    // ...but can grant what they hold.
    let ok = app
        .post(
            &format!("/api/v1/users/{}/roles", a.user_id("viewer")),
            &clerk_token,
            json!({"role_id": a.roles["viewer"]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "re-grant answers 200: {}", ok.body);

    // The last tenant admin keeps the role.
    app.delete(
        &format!(
            "/api/v1/users/{}/roles/{}",
            a.user_id("tenant_admin"),
            a.roles["tenant_admin"]
        ),
        &admin_a,
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
}
