//! Delivery end to end: signed with Standard Webhooks, in order, exactly once
//! per success despite failures, rotation, rollback, redirects, giving up.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::TenantId,
    integrations::webhooks::{deliverer, worker::Deliverer},
};
use uuid::Uuid;

use super::receiver::{Behaviour, Receiver, verify};
use crate::helpers::{SeededTenant, TestApp, TestConfig};

async fn app(retry_base_ms: u64) -> TestApp {
    TestApp::spawn_with(
        TestConfig::default()
            .set("WEBHOOK_ALLOW_PRIVATE", "true")
            .set("WEBHOOK_RETRY_BASE_MS", retry_base_ms),
    )
    .await
}

fn worker(app: &TestApp) -> Deliverer {
    deliverer(
        &app.state.config,
        tenantry::jobs::webhook_deliveries(&app.state.db),
        app.state.secrets.clone(),
    )
}

/// Creates an endpoint; returns (id, secret).
async fn endpoint(app: &TestApp, token: &str, url: &str, types: Value) -> (String, String) {
    let r = app
        .post("/api/v1/webhooks", token, json!({"url": url, "event_types": types}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (
        r.body["id"].as_str().unwrap().into(),
        r.body["secret"].as_str().unwrap().into(),
    )
}

/// Runs the worker until `done` or 200 passes.
async fn drive(w: &Deliverer, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        w.deliver_due().await.unwrap();
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn admin(app: &TestApp) -> (SeededTenant, String) {
    let t = app.seed_tenant("acme").await;
    let token = t.token(app, "tenant_admin").await;
    (t, token)
}

#[tokio::test]
async fn events_arrive_signed_in_order_and_once_despite_failures() {
    let app = app(1).await;
    let (_t, token) = admin(&app).await;
    let rx = Receiver::start(Behaviour::FailFirst(2)).await;
    let (_, secret) = endpoint(&app, &token, &rx.url, json!(["project.created"])).await;
    let mut projects = Vec::new();
    for name in ["one", "two", "three"] {
        let r = app.post("/api/v1/projects", &token, json!({"name": name})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        projects.push(r.body["id"].as_str().unwrap().to_string());
    }
    drive(&worker(&app), || rx.accepted().len() >= 3).await;
    // A few more passes: nothing further may arrive.
    for _ in 0..3 {
        worker(&app).deliver_due().await.unwrap();
    }
    let got = rx.accepted();
    assert_eq!(got.len(), 3, "each event exactly once");
    assert_eq!(rx.hits(), 5, "two failures, then three successes");
    let ids: Vec<String> = got
        .iter()
        .map(|m| m.json()["data"]["resource_id"].as_str().unwrap().into())
        .collect();
    assert_eq!(ids, projects, "in order");
    for m in &got {
        assert!(verify(&secret, m), "signature verifies");
        assert_eq!(m.json()["type"], "project.created");
        assert!(m.json()["timestamp"].is_string());
    }
    assert!(
        !verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &got[0]),
        "a wrong secret fails"
    );
}

#[tokio::test]
async fn after_rotation_deliveries_verify_with_either_secret() {
    let app = app(1).await;
    let (_t, token) = admin(&app).await;
    let rx = Receiver::start(Behaviour::FailFirst(0)).await;
    let (id, old) = endpoint(&app, &token, &rx.url, json!(["*"])).await;
    let r = app
        .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), &token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let new = r.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(r.body["previous_secret_expires_at"].is_string());
    let r = app
        .post(&format!("/api/v1/webhooks/{id}/test"), &token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let pinged = || rx.accepted().iter().any(|m| m.json()["type"] == "webhook.test");
    drive(&worker(&app), pinged).await;
    let got = rx.accepted();
    let ping = got
        .iter()
        .find(|m| m.json()["type"] == "webhook.test")
        .expect("the ping arrived");
    assert_eq!(ping.signature.split(' ').count(), 2);
    let only = |s: &str| super::receiver::Received {
        signature: s.to_string(),
        ..ping.clone()
    };
    let sigs: Vec<&str> = ping.signature.split(' ').collect();
    assert!(verify(&new, &only(sigs[0])), "the new secret verifies its signature");
    assert!(verify(&old, &only(sigs[1])), "the old secret verifies its signature");
    assert!(verify(&new, ping) && verify(&old, ping));

    let deliveries = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
    let d = deliveries.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_type"] == "webhook.test")
        .unwrap();
    assert_eq!(d["status"], "succeeded");
    assert_eq!(d["response_status"], 204);
    assert_eq!(d["attempts"], 1);
}

async fn count(app: &TestApp) -> i64 {
    let mut c = app.db.superuser().await;
    sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE event_type = 'project.created'")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rolled_back_change_queues_nothing() {
    let app = app(1).await;
    let (t, token) = admin(&app).await;
    let rx = Receiver::start(Behaviour::FailFirst(0)).await;
    endpoint(&app, &token, &rx.url, json!(["project.created"])).await;
    let event = || AuditEvent::new(AuditAction::ProjectCreated, "project", Uuid::new_v4());
    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(t.id)).await.unwrap();
    audit::record(&mut tx, TenantId::from_trusted(t.id), &AuditActor::default(), event())
        .await
        .unwrap();
    drop(tx); // rolled back
    assert_eq!(count(&app).await, 0);
    worker(&app).deliver_due().await.unwrap();
    assert_eq!(rx.hits(), 0);

    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(t.id)).await.unwrap();
    audit::record(&mut tx, TenantId::from_trusted(t.id), &AuditActor::default(), event())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&app).await, 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_counts_as_failed() {
    let app = app(60_000).await;
    let (_t, token) = admin(&app).await;
    let target = Receiver::start(Behaviour::FailFirst(0)).await;
    let redirector = Receiver::start(Behaviour::Redirect(target.url.clone())).await;
    // The ping is sent whatever the subscription; nothing else is queued before it.
    let (id, _) = endpoint(&app, &token, &redirector.url, json!(["project.created"])).await;
    app.post(&format!("/api/v1/webhooks/{id}/test"), &token, json!({}))
        .await;
    drive(&worker(&app), || redirector.hits() >= 1).await;
    assert_eq!(redirector.hits(), 1);
    assert_eq!(target.hits(), 0, "the redirect target is never hit");
    let r = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
    let d = &r.body["items"][0];
    assert_eq!(d["status"], "pending", "{d:?}");
    assert_eq!(d["response_status"], 302);
    assert!(d["next_attempt_at"].is_string(), "a retry is scheduled");

    // A manual retry makes it due now; the redirect still fails.
    let delivery = d["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/retry"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    drive(&worker(&app), || redirector.hits() >= 2).await;
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn after_the_last_retry_the_endpoint_is_disabled_and_admins_are_emailed() {
    let app = app(0).await;
    let (t, token) = admin(&app).await;
    let rx = Receiver::start(Behaviour::FailFirst(usize::MAX)).await;
    let (id, _) = endpoint(&app, &token, &rx.url, json!(["project.created"])).await;
    app.post(&format!("/api/v1/webhooks/{id}/test"), &token, json!({}))
        .await;
    let w = worker(&app);
    for _ in 0..50 {
        w.deliver_due().await.unwrap();
    }
    assert_eq!(rx.hits(), 8, "the first attempt and seven retries");
    let got = app.get(&format!("/api/v1/webhooks/{id}"), &token).await;
    assert_eq!(got.body["enabled"], false);
    assert!(got.body["disabled_reason"].is_string());
    let r = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
    let ping = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_type"] == "webhook.test")
        .unwrap();
    assert_eq!(ping["status"], "failed");
    let mut db = app.db.superuser().await;
    let mails: Vec<(String, Value)> = sqlx::query_as(
        "SELECT to_email, context FROM email_outbox WHERE tenant_id = $1 AND template = 'webhook_disabled'",
    )
    .bind(t.id)
    .fetch_all(&mut db)
    .await
    .unwrap();
    let recipients: Vec<&str> = mails.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(recipients, vec![t.email("tenant_admin")]);
    let context = &mails[0].1;
    assert_eq!(context["endpoint_url"], rx.url.as_str());
    assert_eq!(context["endpoint_id"], id.as_str());
    assert_eq!(context["last_error"], "the endpoint answered 500");
    // The dedicated template, rendered as the email worker will.
    let tenant = tenantry::email::templates::Recipient {
        to_email: recipients[0],
        tenant_name: "Acme",
        tenant_slug: "acme",
    };
    let mail = app
        .state
        .email
        .templates
        .render(tenantry::email::kind::EmailTemplate::WebhookDisabled, &tenant, context)
        .unwrap();
    assert!(mail.text.contains(&rx.url) && mail.text.contains("the endpoint answered 500"));
    assert!(
        mail.text.contains(&format!("PUT /api/v1/webhooks/{id}")),
        "{}",
        mail.text
    );
    let security_alerts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE tenant_id = $1 AND template = 'security_alert'")
            .bind(t.id)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(security_alerts, 0, "no longer a security alert");
}

/// Every platform commit invalidates the whole session cache (it cannot know
/// which tenants it touched), and the email outbox and the webhook queue are
/// polled every second even when nothing is due. Such a poll changes nothing and
/// must not commit: with it, every cached session was dropped twice a second and
/// the list benchmark read 3.7 times as many sessions from PostgreSQL as the 2 s
/// cache lifetime accounts for.
#[tokio::test]
async fn idle_polls_of_the_outbox_and_the_webhook_queue_leave_the_session_cache_alone() {
    let app = app(1).await;
    let (t, _) = admin(&app).await;
    let (deliveries, outbox) = (worker(&app), tenantry::jobs::email_outbox(&app.state.db));
    let before = tenantry::db::commit_generation(t.id);
    for _ in 0..100 {
        assert_eq!(deliveries.deliver_due().await.unwrap(), 0);
        assert_eq!(tenantry::email::drain_once(&outbox, &app.state.email).await.unwrap(), 0);
    }
    // Other tests in this process commit too, hence a bound: 200 empty polls that
    // committed would have moved it by at least 200.
    let moved = tenantry::db::commit_generation(t.id) - before;
    assert!(moved < 100, "200 idle polls moved the commit generation by {moved}");
}
