//! Signing in: every failure looks the same, five failures lock and the lock
//! expires, bcrypt hashes upgrade to Argon2id, one email in two tenants asks for
//! the tenant, per-IP and per-account rate limits, and the caller's own history.

use reqwest::StatusCode;
use serde_json::Value;

use super::count_rows;
use crate::helpers::*;

/// The problem body without the per-request id.
fn comparable(r: &Resp) -> Value {
    let mut b = r.body.clone();
    b.as_object_mut().unwrap().remove("request_id");
    b
}

#[tokio::test]
async fn every_login_failure_looks_the_same() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE users SET locked_until = now() + interval '1 hour' WHERE id = $1")
        .bind(t.user_id("viewer"))
        .execute(&mut su)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET is_active = false WHERE id = $1")
        .bind(t.user_id("user"))
        .execute(&mut su)
        .await
        .unwrap();
    let other = app.seed_tenant("sleepy").await;
    sqlx::query("UPDATE tenants SET is_active = false WHERE id = $1")
        .bind(other.id)
        .execute(&mut su)
        .await
        .unwrap();

    let unknown = app.login("nobody@acme.test", PASSWORD, None).await;
    let wrong = app.login(t.email("tenant_admin"), "Wrong-Password-123", None).await;
    let locked = app.login(t.email("viewer"), PASSWORD, None).await;
    let inactive = app.login(t.email("user"), PASSWORD, None).await;
    let tenant_off = app.login(other.email("tenant_admin"), PASSWORD, None).await;
    unknown.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.body["detail"], "Invalid email or password");
    for r in [&wrong, &locked, &inactive, &tenant_off] {
        r.assert_problem(StatusCode::UNAUTHORIZED);
        assert_eq!(comparable(r), comparable(&unknown));
    }
    // Every attempt is recorded, the unknown one without a tenant.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM login_attempts WHERE NOT success")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(n, 5);
    let reasons: Vec<Option<String>> = sqlx::query_scalar("SELECT reason FROM login_attempts ORDER BY created_at")
        .fetch_all(&mut su)
        .await
        .unwrap();
    assert!(
        reasons.contains(&Some("locked".into())) && reasons.contains(&Some("tenant_inactive".into())),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn five_failures_lock_and_the_lock_expires() {
    let app = TestApp::spawn_with(TestConfig::default().set("LOCKOUT_SECONDS", 2)).await;
    let t = app.seed_tenant("acme").await;
    let (email, user) = (t.email("user"), t.user_id("user"));
    for _ in 0..5 {
        app.login(email, "Wrong-Password-123", Some("acme"))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password fails, with the same answer.
    let r = app.login(email, PASSWORD, Some("acme")).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["detail"], "Invalid email or password");
    let sql_event =
        |kind: &str| format!("SELECT count(*) FROM security_events WHERE user_id = $1 AND event_type = '{kind}'");
    assert_eq!(count_rows(&app, &sql_event("account.locked"), user).await, 1);
    assert_eq!(count_rows(&app, &sql_event("login.failed"), user).await, 5);
    let alert = "SELECT count(*) FROM email_outbox o JOIN users u ON u.tenant_id = o.tenant_id AND u.email = o.to_email \
                 WHERE u.id = $1 AND o.template = 'security_alert' AND o.context->>'event' = 'account_locked'";
    assert_eq!(count_rows(&app, alert, user).await, 1);
    assert_eq!(
        count_rows(
            &app,
            "SELECT count(*) FROM audit_logs WHERE action = 'user.locked' AND resource_id = $1::text",
            user
        )
        .await,
        1
    );

    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = app.login(email, PASSWORD, Some("acme")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(count_rows(&app, &sql_event("account.unlocked"), user).await, 1);
    assert_eq!(
        count_rows(
            &app,
            "SELECT count(*) FROM audit_logs WHERE action = 'user.unlocked' AND resource_id = $1::text",
            user
        )
        .await,
        1
    );
    let failed: i64 = count_rows(&app, "SELECT failed_login_count::bigint FROM users WHERE id = $1", user).await;
    assert_eq!(failed, 0, "success resets the count");

    // A success in between resets the count: 4 + success + 4 does not lock.
    for _ in 0..4 {
        app.login(email, "Wrong-Password-123", Some("acme")).await;
    }
    app.token(email, PASSWORD, Some("acme")).await;
    for _ in 0..4 {
        app.login(email, "Wrong-Password-123", Some("acme")).await;
    }
    app.token(email, PASSWORD, Some("acme")).await;
}

#[tokio::test]
async fn bcrypt_hashes_are_upgraded_to_argon2id_on_login() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let legacy = bcrypt::hash("Legacy-Password-2019", 4).unwrap();
    assert!(legacy.starts_with("$2b$"));
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(t.user_id("user"))
        .bind(&legacy)
        .execute(&mut su)
        .await
        .unwrap();
    app.token(t.email("user"), "Legacy-Password-2019", None).await;
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(t.user_id("user"))
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    app.token(t.email("user"), "Legacy-Password-2019", None).await;
}

#[tokio::test]
async fn same_email_in_two_tenants_asks_for_a_tenant_after_a_correct_password() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE users SET email = 'shared@example.com' WHERE id = ANY($1)")
        .bind(vec![a.user_id("user"), b.user_id("viewer")])
        .execute(&mut su)
        .await
        .unwrap();
    let r = app.login("shared@example.com", "Wrong-Password-123", None).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
    let r = app.login("shared@example.com", PASSWORD, None).await;
    r.assert_problem(StatusCode::CONFLICT);
    let slugs: Vec<&str> = r.body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["alpha", "bravo"]);
    let r = app.login("Shared@Example.com", PASSWORD, Some("bravo")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["tenant"]["slug"], "bravo");
    assert_eq!(r.body["token_type"], "bearer");
    assert!(r.body["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(r.body["user"]["id"], b.user_id("viewer").to_string());
}

#[tokio::test]
async fn login_is_rate_limited_per_ip_and_per_account_failures() {
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("RATE_LIMIT_LOGIN_PER_MINUTE", 6)
            .set("RATE_LIMIT_ACCOUNT_PER_MINUTE", 2),
    )
    .await;
    let t = app.seed_tenant("acme").await;
    // Successful sign-ins do not spend the account budget.
    for _ in 0..3 {
        app.token(t.email("user"), PASSWORD, None).await;
    }
    // Two failures spend it: the third try is refused before any check.
    for _ in 0..2 {
        app.login(t.email("viewer"), "Wrong-Password-123", None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }
    let r = app.login(t.email("viewer"), PASSWORD, None).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // Six requests from this IP so far; the seventh is over the IP budget.
    let r = app.login(t.email("user"), PASSWORD, None).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn history_and_security_events_are_the_callers_own() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    app.login(t.email("user"), "Wrong-Password-123", None).await;
    app.login(t.email("viewer"), "Wrong-Password-123", None).await;
    let token = app.token(t.email("user"), PASSWORD, None).await;
    let r = app.get("/api/v1/auth/history?page=1&page_size=1", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["page_size"], 1);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["success"], true);
    let r = app.get("/api/v1/auth/security-events", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["event_type"], "login.failed");
}
