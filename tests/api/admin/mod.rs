//! Impersonation and the super-admin API: dashboard, growth, audit search and
//! verification (tamper detection), threats (credential stuffing produced by
//! real failed sign-ins), problematic users, unlock, maintenance, config.

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

#[tokio::test]
async fn audit_verify_detects_a_tampered_row() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    for name in ["one", "two", "three"] {
        app.post("/api/v1/roles", &admin, json!({"name": name, "permissions": []}))
            .await;
    }
    let ok = app
        .get(&format!("/api/v1/admin/audit/verify?tenant_id={}", t.id), &sa)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["valid"], true);
    assert!(ok.body["rows_checked"].as_i64().unwrap() >= 3);

    let mut c = app.db.superuser().await;
    sqlx::raw_sql("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable")
        .execute(&mut c)
        .await
        .unwrap();
    let (tampered, seq): (Uuid, i64) = sqlx::query_as(
        "UPDATE audit_logs SET new_values = '{\"name\":\"forged\"}' WHERE tenant_id = $1 AND id = \
         (SELECT id FROM audit_logs WHERE tenant_id = $1 AND action = 'role.created' ORDER BY seq OFFSET 1 LIMIT 1) \
         RETURNING id, seq",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    sqlx::raw_sql("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_immutable")
        .execute(&mut c)
        .await
        .unwrap();

    let bad = app
        .get(&format!("/api/v1/admin/audit/verify?tenant_id={}", t.id), &sa)
        .await;
    assert_eq!(bad.body["valid"], false, "{}", bad.body);
    assert_eq!(bad.body["first_broken_id"], tampered.to_string());
    assert_eq!(bad.body["first_broken_seq"], seq);
    let all = app.get("/api/v1/admin/audit/verify", &sa).await;
    assert_eq!(all.body["valid"], false);
    assert_eq!(all.body["first_broken_tenant_id"], t.id.to_string());
    app.get(&format!("/api/v1/admin/audit/verify?tenant_id={}", Uuid::new_v4()), &sa)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // Cross-tenant search with filters; tenant admins only see their own at /audit/logs.
    let logs = app
        .get(
            &format!("/api/v1/admin/audit/logs?tenant_id={}&action=role.created", t.id),
            &sa,
        )
        .await;
    assert_eq!(logs.body["total"], 3, "{}", logs.body);
    let own = app.get("/api/v1/audit/logs", &admin).await;
    assert!(
        own.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant_id"] == t.id.to_string())
    );
    app.get("/api/v1/admin/audit/logs", &admin)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn threats_show_credential_stuffing_and_unlock_works() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    // One IP tries one password against many accounts (and one account many times).
    for i in 0..6 {
        let r = app
            .login(&format!("victim{i}@nowhere.test"), "Summer2026!!", None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..5 {
        app.login(t.email("user"), "Wrong-Password-99", Some("acme")).await;
    }
    let r = app.get("/api/v1/admin/security/threats?window_minutes=30", &sa).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let stuffing = r.body["credential_stuffing"].as_array().unwrap();
    let src = stuffing
        .iter()
        .find(|s| s["ip_address"] == "127.0.0.1")
        .expect("127.0.0.1 flagged");
    assert!(src["distinct_emails"].as_i64().unwrap() >= 7, "{src}");
    let attacked = r.body["accounts_under_attack"].as_array().unwrap();
    assert!(attacked.iter().any(|a| a["email"] == t.email("user")), "{attacked:?}");
    let locked = r.body["recent_lockouts"].as_array().unwrap();
    assert!(
        locked
            .iter()
            .any(|l| l["email"] == t.email("user") && l["currently_locked"] == true),
        "{locked:?}"
    );
    app.get("/api/v1/admin/security/threats?window_minutes=0", &sa)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    let problems = app.get("/api/v1/admin/users/problematic?reason=locked", &sa).await;
    assert_eq!(problems.status, StatusCode::OK, "{}", problems.body);
    assert_eq!(problems.body["total"], 1);
    assert_eq!(problems.body["items"][0]["email"], t.email("user"));
    app.get("/api/v1/admin/users/problematic?reason=bogus", &sa)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Locked: even the right password fails until a super admin unlocks.
    app.login(t.email("user"), PASSWORD, Some("acme"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let u = app
        .post(
            &format!("/api/v1/admin/users/{}/unlock", t.user_id("user")),
            &sa,
            json!({}),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);
    assert_eq!(u.body["unlocked"], true);
    t.token(&app, "user").await;
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT jsonb_typeof(old_values->'locked_until') FROM audit_logs \
         WHERE tenant_id = $1 AND action = 'user.unlocked'",
    )
    .bind(t.id)
    .fetch_all(&mut app.db.superuser().await)
    .await
    .unwrap();
    assert_eq!(audited, ["string"], "one row, the lock instant as RFC 3339 text");
    app.post(
        &format!("/api/v1/admin/users/{}/unlock", Uuid::new_v4()),
        &sa,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn dashboard_growth_maintenance_and_config() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("acme").await;
    let d = app.get("/api/v1/admin/dashboard", &sa).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert_eq!(d.body["tenants"]["total"], 2);
    assert!(d.body["active_sessions"].as_i64().unwrap() >= 1);
    assert!(d.body["email_queue"]["pending"].is_number());

    let g = app.get("/api/v1/admin/analytics/growth?days=7", &sa).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.body["series"].as_array().unwrap().len(), 7);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        g.body["series"][6]["date"],
        today.as_str(),
        "dates are YYYY-MM-DD: {}",
        g.body
    );
    assert_eq!(g.body["totals"]["users"], 5);
    assert_eq!(g.body["totals"]["tenants"], 2);
    app.get("/api/v1/admin/analytics/growth?days=0", &sa)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/admin/analytics/growth?days=abc", &sa)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Expired/used data for the cleanup to find.
    let mut c = app.db.superuser().await;
    let user = t.user_id("viewer");
    sqlx::query(
        "INSERT INTO user_sessions (tenant_id, id, user_id, expires_at) VALUES ($1, $2, $3, now() - interval '1 hour')",
    )
    .bind(t.id)
    .bind(Uuid::new_v4())
    .bind(user)
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO password_reset_tokens (tenant_id, id, user_id, token_hash, expires_at, used_at) \
         VALUES ($1, $2, $3, '\\x01', now() + interval '1 hour', now())",
    )
    .bind(t.id)
    .bind(Uuid::new_v4())
    .bind(user)
    .execute(&mut c)
    .await
    .unwrap();
    let r = app.post("/api/v1/admin/maintenance/cleanup", &sa, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["counts"]["sessions"], 1);
    assert_eq!(r.body["counts"]["password_reset_tokens"], 1);
    assert!(r.body["counts"]["oauth_states"].is_number());
    let s = app.get("/api/v1/admin/maintenance/status", &sa).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert_eq!(s.body["last_cleanup"]["id"], r.body["run_id"]);
    assert_eq!(s.body["pending_migrations"], 0);
    assert!(
        s.body["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["table"] == "audit_logs")
    );

    let l = app.get("/api/v1/admin/config/limits", &sa).await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.body);
    assert_eq!(l.body["login"]["max_failed_logins"], 5);
    let text = l.body.to_string();
    assert!(!text.contains(app.state.config.secret_key.expose()));
    assert!(!text.contains(app.state.config.encryption_key.expose()));

    let viewer = t.token(&app, "tenant_admin").await;
    for path in [
        "/api/v1/admin/dashboard",
        "/api/v1/admin/config/limits",
        "/api/v1/admin/maintenance/status",
    ] {
        app.get(path, &viewer).await.assert_problem(StatusCode::FORBIDDEN);
    }
}

/// `serve` runs the cleanup on its own every `MAINTENANCE_INTERVAL_SECS`, records
/// the run as the system's, and skips it while a run within the interval exists.
#[tokio::test]
async fn scheduled_cleanup_removes_expired_sessions_once_per_interval() {
    let app = TestApp::spawn_with(TestConfig::default().set("MAINTENANCE_INTERVAL_SECS", 1)).await;
    let background = tenantry::jobs::spawn(&app.state);
    let t = app.seed_tenant("acme").await;
    let mut c = app.db.superuser().await;
    let session = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO user_sessions (tenant_id, id, user_id, expires_at) VALUES ($1, $2, $3, now() - interval '1 hour')",
    )
    .bind(t.id)
    .bind(session)
    .bind(t.user_id("viewer"))
    .execute(&mut c)
    .await
    .unwrap();
    let gone = async {
        loop {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM user_sessions WHERE id = $1")
                .bind(session)
                .fetch_one(&mut c)
                .await
                .unwrap();
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), gone)
        .await
        .expect("the scheduled cleanup removed the expired session");
    let (ran_by, sessions): (Option<Uuid>, Value) = sqlx::query_as(
        "SELECT ran_by, counts->'sessions' FROM maintenance_runs WHERE (counts->>'sessions')::int > 0 LIMIT 1",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!((ran_by, sessions), (None, json!(1)), "run by the system");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE action = 'maintenance.cleanup' AND actor_id IS NULL")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(audited >= 1);
    // Another instance (or this one) finds a run within the interval: not due.
    let again = tenantry::admin::maintenance::scheduled_cleanup(
        &app.state,
        &tenantry::jobs::maintenance(&app.state.db),
        std::time::Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert!(again.is_none());
    background.shutdown().await;
}
