//! The lockout alert's one-time unlock link (issue 13): anyone can lock an
//! account (the super admin's too) with a few wrong passwords, so the owner
//! gets `{FRONTEND_URL}/unlock?token=…` by email and `POST /auth/unlock` ends
//! the lock. Single use, expires with the lock, budgeted per IP; the per-account
//! budget keeps running.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::email::{EmailTemplate, templates::Recipient};

use crate::{
    hardening::guessing::{last_email, scalar},
    helpers::*,
};

async fn unlock(app: &TestApp, token: &str) -> Resp {
    app.call(Method::POST, "/api/v1/auth/unlock", None, Some(json!({"token": token})))
        .await
}

/// Locks `email` with five wrong passwords; answers the lockout alert's context.
async fn lock_out(app: &TestApp, email: &str, slug: &str) -> Value {
    for _ in 0..5 {
        app.login(email, "Wrong-Password-123", Some(slug))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }
    let alert = last_email(app, email, "security_alert").await.expect("lockout alert");
    assert_eq!(alert["event"], "account_locked");
    alert
}

/// The unlock link as the rendered email shows it; answers its token.
fn link_token(app: &TestApp, alert: &Value) -> String {
    let to = Recipient {
        to_email: "owner@example.test",
        tenant_name: "System",
        tenant_slug: "system",
    };
    let mail = app
        .state
        .email
        .templates
        .render(EmailTemplate::SecurityAlert, &to, alert)
        .unwrap();
    let prefix = "http://app.tenantry.test/unlock?token=";
    let start = mail.text.find(prefix).expect("unlock link in the text mail") + prefix.len();
    let token: String = mail.text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    // The HTML part escapes `/` (`&#x2f;`); the path and token are there as they are.
    assert!(mail.html.contains(&format!("unlock?token={token}")), "{}", mail.html);
    token
}

#[tokio::test]
async fn the_super_admin_ends_a_lockout_with_the_emailed_link() {
    let app = TestApp::spawn().await;
    let alert = lock_out(&app, SUPER_ADMIN_EMAIL, "system").await;
    app.login(SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD, Some("system"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let token = link_token(&app, &alert);

    let r = unlock(&app, &token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    app.super_admin_token().await;
    // Single use.
    unlock(&app, &token).await.assert_problem(StatusCode::BAD_REQUEST);

    let mut su = app.db.superuser().await;
    let user: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(SUPER_ADMIN_EMAIL)
        .fetch_one(&mut su)
        .await
        .unwrap();
    let events = "SELECT count(*) FROM security_events WHERE user_id = $1 \
                  AND event_type = 'account.unlocked' AND details->>'reason' = 'unlock_link'";
    assert_eq!(scalar(&app, events, user).await, 1);
    let audit = "SELECT count(*) FROM audit_logs WHERE action = 'user.unlocked' AND resource_id = $1::text";
    assert_eq!(scalar(&app, audit, user).await, 1);
    // Stored as its SHA-256 only.
    let hashed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM account_unlock_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8')) \
         AND used_at IS NOT NULL",
    )
    .bind(&token)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(hashed, 1);
}

#[tokio::test]
async fn the_link_expires_with_the_lock() {
    let app = TestApp::spawn_with(TestConfig::default().set("LOCKOUT_SECONDS", 1)).await;
    let t = app.seed_tenant("acme").await;
    let alert = lock_out(&app, t.email("user"), "acme").await;
    let token = link_token(&app, &alert);
    let ends = "SELECT count(*) FROM account_unlock_tokens k JOIN users u ON u.id = k.user_id \
                WHERE k.user_id = $1 AND k.expires_at <= u.locked_until";
    assert_eq!(scalar(&app, ends, t.user_id("user")).await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    unlock(&app, &token).await.assert_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unlocking_gives_an_attacker_no_extra_guesses() {
    let config = TestConfig::default().set("RATE_LIMIT_ACCOUNT_PER_MINUTE", 5);
    let app = TestApp::spawn_with(config).await;
    let t = app.seed_tenant("acme").await;
    let alert = lock_out(&app, t.email("user"), "acme").await;
    let r = unlock(&app, &link_token(&app, &alert)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    // The five failures still count against the account's minute budget.
    let r = app.login(t.email("user"), "Wrong-Password-123", Some("acme")).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn unlock_tries_spend_the_ip_budget() {
    let app = TestApp::spawn_with(TestConfig::default().set("RATE_LIMIT_LOGIN_PER_MINUTE", 2)).await;
    for _ in 0..2 {
        unlock(&app, "guessed-token")
            .await
            .assert_problem(StatusCode::BAD_REQUEST);
    }
    let r = unlock(&app, "guessed-token").await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
}
