//! Client addresses behind a proxy (API.md, "Hardening rules"): with
//! `TRUST_PROXY=true` the client is the right-most `X-Forwarded-For` entry that is
//! not one of `TRUSTED_PROXIES`; junk is skipped; the header counts only when the
//! socket peer is itself a trusted proxy. The test client connects from
//! 127.0.0.1, which the default `TRUSTED_PROXIES` (loopback, private ranges)
//! trusts: it plays nginx, which appends the address it saw to what the client sent.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, Resp, TestApp, TestConfig};

/// `POST /auth/login` with an `X-Forwarded-For` header.
async fn login_via(app: &TestApp, xff: &str, email: &str, password: &str) -> Resp {
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", xff)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

/// `POST /projects` with an `X-Forwarded-For` header; returns the project.
async fn create_project_via(app: &TestApp, token: &str, xff: &str, name: &str) -> Value {
    let r = app
        .client
        .post(app.url("/api/v1/projects"))
        .bearer_auth(token)
        .header("x-forwarded-for", xff)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    let r = Resp::from(r).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// The IP recorded in the audit row of project `id`'s creation.
async fn audited_ip(app: &TestApp, id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT ip_address FROM audit_logs WHERE action = 'project.created' AND resource_id = $1")
        .bind(id)
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_spoofed_left_most_hop_does_not_escape_the_per_ip_sign_in_limit() {
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("TRUST_PROXY", "true")
            .set("RATE_LIMIT_LOGIN_PER_MINUTE", 3),
    )
    .await;
    let t = app.seed_tenant("acme").await;
    // The attacker invents a new left-most address on every try; nginx appends
    // the real one (203.0.113.7), which is the budget that gets spent.
    for i in 0..3 {
        let r = login_via(
            &app,
            &format!("198.51.100.{i}, 203.0.113.7"),
            t.email("user"),
            "Wrong-Pass-1",
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED);
    }
    let r = login_via(&app, "198.51.100.99, 203.0.113.7", t.email("user"), PASSWORD).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    // Another real client has its own budget.
    let r = login_via(&app, "203.0.113.8", t.email("user"), PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn sign_in_history_and_security_events_carry_the_real_hop() {
    let app = TestApp::spawn_with(TestConfig::default().set("TRUST_PROXY", "true")).await;
    let t = app.seed_tenant("acme").await;
    let xff = "<script>alert(1)</script>, 6.6.6.6, 203.0.113.7, 10.0.0.5";
    login_via(&app, xff, t.email("user"), "Wrong-Pass-1")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let mut db = app.db.superuser().await;
    let attempt: Option<String> = sqlx::query_scalar("SELECT ip_address FROM login_attempts WHERE user_id = $1")
        .bind(t.user_id("user"))
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(attempt.as_deref(), Some("203.0.113.7"));
    let event: Option<String> =
        sqlx::query_scalar("SELECT ip_address FROM security_events WHERE user_id = $1 AND event_type = 'login.failed'")
            .bind(t.user_id("user"))
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(event.as_deref(), Some("203.0.113.7"));
}

#[tokio::test]
async fn audit_rows_carry_the_right_most_untrusted_address_and_skip_junk() {
    let app = TestApp::spawn_with(TestConfig::default().set("TRUST_PROXY", "true")).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let cases = [
        // Client-written entries to the left of the real hop are ignored.
        ("6.6.6.6, 203.0.113.7", "203.0.113.7"),
        // Our own proxies (private ranges) to the right are skipped.
        ("6.6.6.6, 203.0.113.9, 10.1.2.3, 192.168.0.4", "203.0.113.9"),
        // Junk is never recorded, wherever it sits.
        ("203.0.113.10, not-an-ip, <b>x</b>, 999.1.1.1", "203.0.113.10"),
        ("2001:db8::7", "2001:db8::7"),
        // Nothing but trusted hops: the left-most one (a client on the internal network).
        ("192.168.7.7, 10.0.0.5", "192.168.7.7"),
        // Nothing usable: the socket peer.
        ("garbage", "127.0.0.1"),
    ];
    for (xff, expected) in cases {
        let p = create_project_via(&app, &token, xff, &format!("P {}", Uuid::new_v4())).await;
        let ip = audited_ip(&app, p["id"].as_str().unwrap()).await;
        assert_eq!(ip.as_deref(), Some(expected), "X-Forwarded-For: {xff}");
    }
}

#[tokio::test]
async fn the_header_is_ignored_from_a_peer_that_is_not_a_trusted_proxy() {
    // Only 10.0.0.0/8 are proxies: the test client (127.0.0.1) talks to us directly.
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("TRUST_PROXY", "true")
            .set("TRUSTED_PROXIES", "10.0.0.0/8"),
    )
    .await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project_via(&app, &token, "203.0.113.7", "Direct").await;
    assert_eq!(
        audited_ip(&app, p["id"].as_str().unwrap()).await.as_deref(),
        Some("127.0.0.1")
    );

    // Without TRUST_PROXY the header means nothing at all.
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project_via(&app, &token, "203.0.113.7", "Direct").await;
    assert_eq!(
        audited_ip(&app, p["id"].as_str().unwrap()).await.as_deref(),
        Some("127.0.0.1")
    );
}

#[test]
fn a_bad_trusted_proxies_entry_stops_start_up_naming_the_variable() {
    let vars = [("TRUSTED_PROXIES", "10.0.0.0/8, example.com")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let err = tenantry::config::Config::from_map(vars).unwrap_err();
    assert_eq!(err.var, "TRUSTED_PROXIES");
}
