//! Running the platform: dashboard, growth, maintenance, config, and the
//! scheduled cleanup of expired sessions.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

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

/// Each day counts the rows created on that UTC day: a row at the first day's
/// midnight is in the window, one a second before it is not, and days without
/// any are zero.
#[tokio::test]
async fn growth_counts_each_utc_day_of_the_window() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin_token().await;
    let t = app.seed_tenant("growth").await;
    let mut c = app.db.superuser().await;
    // Everything that exists so far was created today.
    let today: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM users), (SELECT count(*) FROM projects)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    // 7 days: today and the 6 before it; the first day starts at midnight 6 days ago.
    let midnight = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
    let project = |at: &str| {
        format!(
            "INSERT INTO projects (tenant_id, id, name, created_at) VALUES ('{}', gen_random_uuid(), 'backdated', {midnight} {at})",
            t.id
        )
    };
    let backdate =
        |table: &str, id: Uuid, at: &str| format!("UPDATE {table} SET created_at = {midnight} {at} WHERE id = '{id}'");
    for sql in [
        project("- interval '6 days'"),
        project("- interval '6 days' - interval '1 second'"),
        project("- interval '2 days' + interval '23 hours'"),
        backdate("users", t.user_id("viewer"), "- interval '2 days'"),
        backdate("tenants", t.id, "- interval '3 days' + interval '1 minute'"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
    }

    let g = app.get("/api/v1/admin/analytics/growth?days=7", &sa).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let series: Vec<(i64, i64, i64)> = g.body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["tenants"].as_i64().unwrap(),
                p["users"].as_i64().unwrap(),
                p["projects"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        series,
        [
            (0, 0, 1),
            (0, 0, 0),
            (0, 0, 0),
            (1, 0, 0),
            (0, 1, 1),
            (0, 0, 0),
            (today.0 - 1, today.1 - 1, today.2),
        ],
        "{}",
        g.body
    );
    assert_eq!(g.body["totals"]["projects"], today.2 + 2);
}
