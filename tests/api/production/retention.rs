//! Retention: the maintenance cleanup prunes old sign-in attempts, security
//! events, dead outbox mail and spent OAuth states (in batches), keeps the
//! audit log, and the status page reports what each rule removed last.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::helpers::*;

async fn count(db: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(db)
        .await
        .unwrap()
}

async fn exec(db: &mut PgConnection, sql: &str, tenant: Uuid) {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .execute(db)
        .await
        .unwrap();
}

/// Rows of every pruned kind, old and recent, in tenant `t`.
async fn seed_history(db: &mut PgConnection, t: Uuid) {
    // 5,003 attempts 45 days old: more than one batch of 5,000.
    exec(
        db,
        "INSERT INTO login_attempts (tenant_id, id, email, success, created_at) \
         SELECT $1, gen_random_uuid(), 'old@acme.test', false, now() - interval '45 days' \
         FROM generate_series(1, 5003)",
        t,
    )
    .await;
    exec(
        db,
        "INSERT INTO login_attempts (tenant_id, id, email, success, created_at) \
         SELECT $1, gen_random_uuid(), 'recent@acme.test', true, now() - interval '10 days' \
         FROM generate_series(1, 2)",
        t,
    )
    .await;
    exec(
        db,
        "INSERT INTO security_events (tenant_id, id, event_type, created_at) \
         SELECT $1, gen_random_uuid(), 'test.seeded', now() - (d || ' days')::interval \
         FROM unnest(ARRAY[400, 380, 300]) AS d",
        t,
    )
    .await;
    exec(
        db,
        "INSERT INTO email_outbox (tenant_id, id, to_email, template, status, created_at) \
         SELECT $1, gen_random_uuid(), 'x@example.com', 'welcome', s, now() - (d || ' days')::interval \
         FROM (VALUES ('dead', 40), ('dead', 35), ('dead', 10), ('pending', 40)) AS v(s, d)",
        t,
    )
    .await;
    exec(
        db,
        "INSERT INTO oauth_states (tenant_id, state_hash, provider, nonce, pkce_verifier, redirect_uri, expires_at, used_at) \
         SELECT $1, decode(md5(v.n::text), 'hex'), 'google', 'n', 'v', 'http://app.test/cb', v.e, v.u \
         FROM (VALUES (1, now() - interval '1 minute', NULL::timestamptz), \
                      (2, now() + interval '5 minutes', now()), \
                      (3, now() + interval '5 minutes', NULL)) AS v(n, e, u)",
        t,
    )
    .await;
}

fn rule<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {status}"))
}

#[tokio::test]
async fn cleanup_prunes_past_retention_keeps_the_audit_log_and_reports_each_rule() {
    let app = TestApp::spawn_with(TestConfig::default().set("RETENTION_LOGIN_ATTEMPTS_DAYS", 30)).await;
    let t = app.seed_tenant("acme").await;
    let mut db = app.db.superuser().await;
    seed_history(&mut db, t.id).await;
    // Some audit history in the tenant, which must survive.
    let admin = t.token(&app, "tenant_admin").await;
    let r = app.post("/api/v1/projects", &admin, json!({"name": "Kept"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let audit_before = count(&mut db, "SELECT count(*) FROM audit_logs").await;

    let sa = app.super_admin_token().await;
    let r = app.post("/api/v1/admin/maintenance/cleanup", &sa, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let counts = &r.body["counts"];
    assert_eq!(counts["login_attempts"], 5003, "{counts}");
    assert_eq!(counts["security_events"], 2, "{counts}");
    assert_eq!(counts["dead_emails"], 2, "{counts}");
    assert_eq!(counts["oauth_states"], 2, "{counts}");

    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM login_attempts WHERE email = 'old@acme.test'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM login_attempts WHERE email = 'recent@acme.test'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM security_events WHERE event_type = 'test.seeded'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM email_outbox WHERE status = 'dead' AND to_email = 'x@example.com'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM email_outbox WHERE status = 'pending' AND to_email = 'x@example.com'"
        )
        .await,
        1,
        "pending mail is never pruned"
    );
    assert_eq!(count(&mut db, "SELECT count(*) FROM oauth_states").await, 1);
    let audit_after = count(&mut db, "SELECT count(*) FROM audit_logs").await;
    assert!(
        audit_after > audit_before,
        "the audit log is kept (and records the run)"
    );

    let status = app.get("/api/v1/admin/maintenance/status", &sa).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    let login = rule(&status.body, "login_attempts");
    assert_eq!(
        (login["removed"].as_i64(), login["retention_days"].as_i64()),
        (Some(5003), Some(30))
    );
    assert!(login["ran_at"].is_string());
    let events = rule(&status.body, "security_events");
    assert_eq!(
        (events["removed"].as_i64(), events["retention_days"].as_i64()),
        (Some(2), Some(365))
    );
    let dead = rule(&status.body, "dead_emails");
    assert_eq!(
        (dead["removed"].as_i64(), dead["retention_days"].as_i64()),
        (Some(2), Some(30))
    );
    assert!(rule(&status.body, "oauth_states")["retention_days"].is_null());

    // A second run has nothing left to remove: each rule reports its last count.
    let r = app.post("/api/v1/admin/maintenance/cleanup", &sa, json!({})).await;
    assert_eq!(r.body["counts"]["login_attempts"], 0);
    let status = app.get("/api/v1/admin/maintenance/status", &sa).await;
    assert_eq!(rule(&status.body, "login_attempts")["removed"], 0);
    assert_eq!(rule(&status.body, "security_events")["removed"], 0);
}

#[tokio::test]
async fn a_retention_of_zero_days_keeps_rows_forever() {
    let app = TestApp::spawn_with(TestConfig::default().set("RETENTION_SECURITY_EVENTS_DAYS", 0)).await;
    let t = app.seed_tenant("acme").await;
    let mut db = app.db.superuser().await;
    seed_history(&mut db, t.id).await;
    let sa = app.super_admin_token().await;
    let r = app.post("/api/v1/admin/maintenance/cleanup", &sa, json!({})).await;
    assert_eq!(r.body["counts"]["security_events"], 0, "{}", r.body);
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM security_events WHERE event_type = 'test.seeded'"
        )
        .await,
        3
    );
}
