//! Creating a tenant: atomic, with its system roles, first admin and audit row,
//! a set-password email when no password is given, validation and refusals.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::{ADMIN_PASSWORD, count, new_tenant};
use crate::helpers::*;

#[tokio::test]
async fn create_tenant_makes_system_roles_admin_and_audit_without_leaking_the_password() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let r = app.post("/api/v1/tenants", &sa, new_tenant("acme")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let tenant_id: Uuid = r.body["tenant"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(r.body["tenant"]["slug"], "acme");
    assert_eq!(r.body["tenant"]["limits"]["max_users"], 7);
    assert_eq!(r.body["tenant"]["settings"]["theme"], "dark");
    assert_eq!(r.body["admin_user"]["email"], "boss@acme.test");
    assert!(!r.body.to_string().contains(ADMIN_PASSWORD));

    // The admin signs in and sees exactly the four system roles with their sets.
    let admin = app.token("boss@acme.test", ADMIN_PASSWORD, Some("acme")).await;
    let status = app.get("/api/v1/auth/status", &admin).await;
    assert_eq!(
        status.body["permissions"].as_array().unwrap().len(),
        22,
        "{}",
        status.body
    );
    let roles = app.get("/api/v1/roles", &admin).await;
    assert_eq!(roles.status, StatusCode::OK, "{}", roles.body);
    let items = roles.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for role in items {
        let name = role["name"].as_str().unwrap();
        let mut expected: Vec<&str> = tenantry::rbac::system_role_permissions(name)
            .iter()
            .map(|p| p.as_str())
            .collect();
        expected.sort();
        let got: Vec<&str> = role["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "permissions of {name}");
        assert_eq!(role["is_system"], true);
    }

    // Audit: in the system chain and in the tenant's chain; never the password.
    let mut c = app.db.superuser().await;
    let actions: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT tenant_id, action FROM audit_logs WHERE action = 'tenant.created'")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert!(
        actions.iter().any(|(t, _)| t.as_u128() == 1),
        "system chain: {actions:?}"
    );
    assert!(
        actions.iter().any(|(t, _)| *t == tenant_id),
        "tenant chain: {actions:?}"
    );
    let all_audit: Vec<String> = sqlx::query_scalar("SELECT row_to_json(a)::text FROM audit_logs a")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(
        all_audit.iter().all(|row| !row.contains(ADMIN_PASSWORD)),
        "password in an audit row"
    );
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    let logs = app
        .get(
            &format!("/api/v1/admin/audit/logs?tenant_id={tenant_id}&page_size=100"),
            &sa,
        )
        .await;
    assert!(!logs.body.to_string().contains(ADMIN_PASSWORD));
    assert!(!logs.body.to_string().contains(&hash));
}

#[tokio::test]
async fn create_without_password_sends_a_set_password_email() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let mut body = new_tenant("initech");
    body.as_object_mut().unwrap().remove("admin_password");
    let r = app.post("/api/v1/tenants", &sa, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["admin_user"]["has_password"], false);
    let tenant_id: Uuid = r.body["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let mut c = app.db.superuser().await;
    let (to, template): (String, String) =
        sqlx::query_as("SELECT to_email, template FROM email_outbox WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!((to.as_str(), template.as_str()), ("boss@initech.test", "welcome"));
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM password_reset_tokens WHERE tenant_id = $1",
            tenant_id
        )
        .await,
        1
    );
    // No password yet: sign-in is refused.
    assert_eq!(
        app.login("boss@initech.test", ADMIN_PASSWORD, Some("initech"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn create_validates_and_refuses_duplicates_and_non_super_admins() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    for bad_slug in ["system", "admin", "ab", "Acme", "acme_co", "-acme", &"x".repeat(64)] {
        let r = app.post("/api/v1/tenants", &sa, new_tenant(bad_slug)).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == "slug"),
            "{}",
            r.body
        );
    }
    let mut weak = new_tenant("weak");
    weak["admin_password"] = json!("short");
    app.post("/api/v1/tenants", &sa, weak)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let mut bad_email = new_tenant("bademail");
    bad_email["admin_email"] = json!("not-an-email");
    app.post("/api/v1/tenants", &sa, bad_email)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post("/api/v1/tenants", &sa, json!({"name": "x"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let mut neg = new_tenant("neg");
    neg["limits"] = json!({"max_users": -1});
    app.post("/api/v1/tenants", &sa, neg)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        app.post("/api/v1/tenants", &sa, new_tenant("acme")).await.status,
        StatusCode::CREATED
    );
    app.post("/api/v1/tenants", &sa, new_tenant("acme"))
        .await
        .assert_problem(StatusCode::CONFLICT);

    let other = app.seed_tenant("other").await;
    let admin = other.token(&app, "tenant_admin").await;
    app.post("/api/v1/tenants", &admin, new_tenant("nope"))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    app.call(Method::POST, "/api/v1/tenants", None, Some(new_tenant("nope")))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tenant_creation_is_atomic() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    // Fault injection: the admin user's insert fails after the tenant row and
    // its roles were written in the same transaction.
    let mut c = app.db.superuser().await;
    sqlx::raw_sql(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.email = 'boss@doomed.test' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER boom BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION boom();",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let r = app.post("/api/v1/tenants", &sa, new_tenant("doomed")).await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.body);
    for sql in [
        "SELECT count(*) FROM tenants WHERE slug = 'doomed'",
        "SELECT count(*) FROM roles r WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = r.tenant_id)",
        "SELECT count(*) FROM users WHERE email = 'boss@doomed.test'",
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 0, "{sql}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(before, after, "no audit row may survive a failed creation");
    // The slug is still free once the fault is gone.
    sqlx::raw_sql("DROP TRIGGER boom ON users")
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(
        app.post("/api/v1/tenants", &sa, new_tenant("doomed")).await.status,
        StatusCode::CREATED
    );
}
