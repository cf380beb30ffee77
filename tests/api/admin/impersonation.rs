//! Impersonation: who may impersonate whom, every step audited, and its end.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const SYSTEM: &str = "00000000-0000-0000-0000-000000000001";

async fn sa_id(app: &TestApp) -> Uuid {
    sqlx::query_scalar("SELECT id FROM users WHERE is_super_admin LIMIT 1")
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap()
}

async fn impersonate(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post("/api/v1/auth/impersonate", token, body).await
}

#[tokio::test]
async fn impersonation_rules_audit_and_end() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let sa_user = sa_id(&app).await;
    let t = app.seed_tenant("acme").await;

    // Reason required; super admins are never targets; tenant admins cannot impersonate.
    impersonate(&app, &sa, json!({"tenant_id": t.id, "reason": "  "}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    impersonate(&app, &sa, json!({"tenant_id": t.id}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    impersonate(
        &app,
        &sa,
        json!({"tenant_id": SYSTEM, "user_id": sa_user, "reason": "x"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    impersonate(&app, &sa, json!({"tenant_id": Uuid::new_v4(), "reason": "x"}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let admin = t.token(&app, "tenant_admin").await;
    impersonate(&app, &admin, json!({"tenant_id": t.id, "reason": "x"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    // Default target: the tenant admin.
    let r = impersonate(&app, &sa, json!({"tenant_id": t.id, "reason": "Ticket #42"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["email"], t.email("tenant_admin"));
    assert_eq!(r.body["tenant"]["slug"], "acme");
    assert!(r.body["expires_in"].as_i64().unwrap() <= 3600);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let status = app.get("/api/v1/auth/status", &token).await;
    assert_eq!(status.body["impersonating"], true, "{}", status.body);

    // No nesting: an impersonating token is not a super admin.
    impersonate(&app, &token, json!({"tenant_id": t.id, "reason": "x"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    // Work done while impersonating carries the impersonator.
    let role = app
        .post(
            "/api/v1/roles",
            &token,
            json!({"name": "support-made", "permissions": ["projects:read"]}),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.body);
    let mut c = app.db.superuser().await;
    let (actor, imp): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "SELECT actor_id, impersonator_id FROM audit_logs WHERE tenant_id = $1 AND action = 'role.created'",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!((actor, imp), (Some(t.user_id("tenant_admin")), Some(sa_user)));
    for tenant in [t.id, Uuid::parse_str(SYSTEM).unwrap()] {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'impersonation.started'",
        )
        .bind(tenant)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(n, 1, "impersonation.started in chain {tenant}");
    }
    let alert: (String, Value) = sqlx::query_as(
        "SELECT to_email, context FROM email_outbox WHERE tenant_id = $1 AND template = 'security_alert'",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(alert.0, t.email("tenant_admin"));
    assert!(alert.1["detail"].as_str().unwrap().contains("Ticket #42"));

    // The threat view lists it; ending it kills the token at once.
    let threats = app.get("/api/v1/admin/security/threats", &sa).await;
    assert_eq!(
        threats.body["impersonations"][0]["reason"], "Ticket #42",
        "{}",
        threats.body
    );
    app.post("/api/v1/auth/end-impersonation", &admin, json!({}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    let end = app.post("/api/v1/auth/end-impersonation", &token, json!({})).await;
    assert_eq!(end.status, StatusCode::NO_CONTENT, "{}", end.body);
    app.get("/api/v1/auth/status", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/auth/status", &admin).await.status,
        StatusCode::OK,
        "the user's own session survives"
    );

    // A named target; inactive tenants refuse.
    let r = impersonate(
        &app,
        &sa,
        json!({"tenant_id": t.id, "user_id": t.user_id("viewer"), "reason": "r"}),
    )
    .await;
    assert_eq!(r.body["user"]["email"], t.email("viewer"));
    app.post(&format!("/api/v1/tenants/{}/deactivate", t.id), &sa, json!({}))
        .await;
    impersonate(&app, &sa, json!({"tenant_id": t.id, "reason": "r"}))
        .await
        .assert_problem(StatusCode::CONFLICT);
}
