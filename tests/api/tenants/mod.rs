//! Tenant lifecycle: creation (atomic, with system roles and first admin),
//! validation, listing, update rules, deactivation, deletion and stats.

mod identity_providers;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const ADMIN_PASSWORD: &str = "Tenant-Admin-Secret-42!";

fn new_tenant(slug: &str) -> Value {
    json!({
        "name": format!("Tenant {slug}"), "slug": slug, "admin_email": format!("boss@{slug}.test"),
        "admin_first_name": "Bo", "admin_last_name": "Ss", "admin_password": ADMIN_PASSWORD,
        "settings": {"theme": "dark"}, "limits": {"max_users": 7, "max_projects": 3},
    })
}

async fn count(app: &TestApp, sql: &str, id: Uuid) -> i64 {
    let mut c = app.db.superuser().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(id)
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// Every tenant-owned row of `tenant`, summed over the tenant tables.
async fn rows_of_tenant(app: &TestApp, tenant: Uuid) -> i64 {
    let mut c = app.db.superuser().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c JOIN information_schema.tables t \
         USING (table_schema, table_name) WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' \
         AND t.table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut total = count(app, "SELECT count(*) FROM tenants WHERE id = $1", tenant).await;
    for t in tables {
        total += count(app, &format!("SELECT count(*) FROM {t} WHERE tenant_id = $1"), tenant).await;
    }
    total
}

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
async fn deactivation_kills_live_tokens_and_refuses_sign_in() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    assert_eq!(app.get("/api/v1/auth/status", &token).await.status, StatusCode::OK);

    let r = app
        .post(&format!("/api/v1/tenants/{}/deactivate", t.id), &sa, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["is_active"], false);
    app.get("/api/v1/auth/status", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.login(t.email("user"), PASSWORD, Some("acme"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let live = count(
        &app,
        "SELECT count(*) FROM user_sessions WHERE tenant_id = $1 AND revoked_at IS NULL",
        t.id,
    )
    .await;
    assert_eq!(live, 0);

    let r = app
        .post(&format!("/api/v1/tenants/{}/activate", t.id), &sa, json!({}))
        .await;
    assert_eq!(r.body["is_active"], true);
    // The old token stays dead; a fresh sign-in works.
    app.get("/api/v1/auth/status", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let fresh = t.token(&app, "user").await;
    assert_eq!(app.get("/api/v1/auth/status", &fresh).await.status, StatusCode::OK);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_logs WHERE tenant_id = $1 ORDER BY seq")
        .bind(t.id)
        .fetch_all(&mut app.db.superuser().await)
        .await
        .unwrap();
    assert!(actions.contains(&"tenant.deactivated".to_string()) && actions.contains(&"tenant.activated".to_string()));
}

#[tokio::test]
async fn delete_removes_every_row_of_the_tenant() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let r = app.post("/api/v1/tenants", &sa, new_tenant("gone")).await;
    let id: Uuid = r.body["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let admin = app.token("boss@gone.test", ADMIN_PASSWORD, Some("gone")).await;
    let role = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "auditor", "permissions": ["audit:read"]}),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.body);
    assert!(rows_of_tenant(&app, id).await > 10);
    // A stored file of the tenant (and one of another tenant that must stay).
    let storage = &app.state.storage;
    let key = tenantry::storage::Storage::document_key(id, Uuid::new_v4());
    storage
        .put(&key, bytes::Bytes::from_static(b"tenant bytes"))
        .await
        .unwrap();
    let keep = app.seed_tenant("kept").await;
    let kept_before = rows_of_tenant(&app, keep.id).await;

    assert_eq!(
        app.delete(&format!("/api/v1/tenants/{id}"), &sa).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(rows_of_tenant(&app, id).await, 0);
    assert_eq!(
        storage.size(&key).await.unwrap(),
        None,
        "stored files go with the tenant"
    );
    assert_eq!(rows_of_tenant(&app, keep.id).await, kept_before);
    app.get("/api/v1/auth/status", &admin)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.delete(&format!("/api/v1/tenants/{id}"), &sa)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let deleted = count(
        &app,
        "SELECT count(*) FROM audit_logs WHERE tenant_id = '00000000-0000-0000-0000-000000000001' \
         AND action = 'tenant.deleted' AND resource_id = $1::text",
        id,
    )
    .await;
    assert_eq!(deleted, 1);
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

#[tokio::test]
async fn seed_creates_two_tenants_with_working_logins_once() {
    let app = TestApp::spawn().await;
    let logins = tenantry::seed::seed(&app.state)
        .await
        .unwrap()
        .expect("first run seeds");
    assert_eq!(logins.len(), 8);
    for l in logins.iter().filter(|l| l.role == "tenant_admin" || l.role == "viewer") {
        let token = app.token(&l.email, &l.password, Some(&l.tenant)).await;
        let projects = app.get("/api/v1/projects", &token).await;
        assert_eq!(projects.body["total"], 3, "{}", projects.body);
    }
    let globex_viewer = logins
        .iter()
        .find(|l| l.tenant == "globex" && l.role == "viewer")
        .unwrap();
    let token = app
        .token(&globex_viewer.email, &globex_viewer.password, Some("globex"))
        .await;
    app.post("/api/v1/projects", &token, json!({"name": "nope"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert!(
        tenantry::seed::seed(&app.state).await.unwrap().is_none(),
        "second run is a no-op"
    );
    let sa = app.super_admin_token().await;
    assert_eq!(app.get("/api/v1/tenants", &sa).await.body["total"], 3);
}
