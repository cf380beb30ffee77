//! SCIM tokens, API keys and webhooks in the browser: each secret is shown
//! once and works where it should; revocation takes effect; the webhook's
//! test ping reaches a local receiver, signed, and appears in the delivery
//! log. A viewer gets 403 on every settings page.

use fantoccini::Locator;
use reqwest::{StatusCode, header};
use serde_json::json;
use tenantry::integrations::webhooks::deliverer;

use super::browser::{Browser, admin_without_audit_read, console_app};
use crate::{
    helpers::*,
    webhooks::receiver::{Behaviour, Receiver, verify},
};

async fn value(b: &Browser, id: &str) -> String {
    b.client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn scim_users(app: &TestApp, base: &str, token: &str) -> StatusCode {
    app.client
        .get(format!("{base}/Users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_scim_token_is_shown_once_works_and_is_revoked_from_the_page() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.press("SCIM provisioning").await;
    b.press("New SCIM token").await;
    b.fill("Token name", "Entra provisioning").await;
    b.press("Create token").await;
    let base = value(&b, "scim-base-url").await;
    let token = value(&b, "scim-token").await;
    assert_eq!(base, format!("{}/scim/v2", app.base));
    assert!(token.starts_with("scim_"), "{token}");
    assert_eq!(scim_users(&app, &base, &token).await, StatusCode::OK);

    b.press("Back to SCIM tokens").await;
    let text = b.text().await;
    assert!(text.contains("Entra provisioning"), "{text}");
    assert!(!b.client.source().await.unwrap().contains(&token), "shown once");
    b.press("Revoke Entra provisioning").await;
    b.press("Revoke token").await;
    assert!(b.text().await.contains("It is revoked"));
    assert_eq!(scim_users(&app, &base, &token).await, StatusCode::UNAUTHORIZED);
    b.close().await;
}

#[tokio::test]
async fn an_api_key_gets_only_what_it_was_given_and_nothing_the_admin_lacks() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    // A custom admin: everything but audit:read.
    admin_without_audit_read(&app, &t, "ops_admin").await;

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("user"), PASSWORD).await;
    b.press("API keys").await;
    b.press("New API key").await;
    let audit = b.client.find(Locator::Id("perm-audit:read")).await.unwrap();
    assert!(
        audit.attr("disabled").await.unwrap().is_some(),
        "a permission the admin lacks is disabled"
    );
    b.fill("Key name", "reporting").await;
    b.client
        .find(Locator::Id("perm-projects:read"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.screenshot("settings-api-key").await;
    b.press("Create key").await;
    let key = value(&b, "api-key").await;
    assert!(key.starts_with("tnt_"), "{key}");
    assert_eq!(app.get("/api/v1/projects", &key).await.status, StatusCode::OK);
    let r = app.post("/api/v1/projects", &key, json!({"name": "Nope"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    b.press("Back to API keys").await;
    let text = b.text().await;
    assert!(text.contains("reporting") && text.contains("projects:read"), "{text}");
    assert!(text.contains(&key[..12]), "listed by prefix: {text}");
    b.press("Revoke reporting").await;
    b.press("Revoke key").await;
    assert!(b.text().await.contains("revoked"));
    assert_eq!(app.get("/api/v1/projects", &key).await.status, StatusCode::UNAUTHORIZED);
    b.close().await;
}

#[tokio::test]
async fn a_webhook_test_ping_reaches_the_receiver_and_shows_in_the_log() {
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("FRONTEND_URL", "")
            .set("WEBHOOK_ALLOW_PRIVATE", "true"),
    )
    .await;
    let receiver = Receiver::start(Behaviour::FailFirst(0)).await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.press("Webhooks").await;
    b.press("New webhook").await;
    b.fill("Endpoint URL", &receiver.url).await;
    b.fill("Description (optional)", "CRM sync").await;
    for id in ["event-user.created", "event-user.deactivated"] {
        b.client.find(Locator::Id(id)).await.unwrap().click().await.unwrap();
    }
    b.press("Create webhook").await;
    let secret = value(&b, "webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    b.press("Go to the webhook").await;
    b.press("Send test ping").await;
    assert!(b.text().await.contains("A test ping is queued"));

    let worker = deliverer(
        &app.state.config,
        tenantry::jobs::webhook_deliveries(&app.state.db),
        app.state.secrets.clone(),
    );
    for _ in 0..100 {
        worker.deliver_due().await.unwrap();
        if !receiver.accepted().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let got = receiver.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert!(verify(&secret, &got[0]), "signed with the secret shown once");

    // The page again, without the "queued" notice.
    let page = b.path().await;
    b.go(page.split('?').next().unwrap()).await;
    let row = b
        .client
        .find(Locator::XPath("//table[contains(@class,'deliveries')]//tbody/tr[1]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("webhook.test") && row.contains("succeeded") && row.contains("204") && row.contains(" ms"),
        "{row}"
    );
    b.screenshot("settings-webhook").await;

    // Manual retry queues it again; disabling is shown.
    b.press("Retry").await;
    assert!(b.text().await.contains("The delivery is queued again."));
    b.press("Disable").await;
    assert!(b.text().await.contains("The webhook is disabled"));
    b.press("Rotate secret").await;
    let rotated = value(&b, "webhook-secret").await;
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    b.close().await;
}

/// Signs in through the console's form; returns the session cookie.
async fn console_cookie(app: &TestApp, email: &str) -> String {
    let page = app.client.get(app.url("/login")).send().await.unwrap();
    let csrf_line = page
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tenantry_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = csrf_line.split_once('=').unwrap().1.to_string();
    let form = [("email", email), ("password", PASSWORD), ("csrf_token", csrf.as_str())];
    let r = app
        .client
        .post(app.url("/login"))
        .header(header::COOKIE, &csrf_line)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tenantry_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_viewer_gets_403_on_every_settings_page_and_sees_no_menu_entry() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let viewer = console_cookie(&app, t.email("viewer")).await;
    let admin = console_cookie(&app, t.email("tenant_admin")).await;
    let id = uuid::Uuid::new_v4();
    let paths = [
        "/admin/sso".to_string(),
        "/admin/sso/microsoft".into(),
        "/admin/sso/google/delete".into(),
        "/admin/scim".into(),
        "/admin/scim/new".into(),
        format!("/admin/scim/{id}/revoke"),
        "/admin/api-keys".into(),
        "/admin/api-keys/new".into(),
        "/admin/webhooks".into(),
        "/admin/webhooks/new".into(),
        format!("/admin/webhooks/{id}"),
        format!("/admin/webhooks/{id}/edit"),
    ];
    for path in &paths {
        let get = |cookie: &str| app.client.get(app.url(path)).header(header::COOKIE, cookie).send();
        assert_eq!(get(&viewer).await.unwrap().status(), StatusCode::FORBIDDEN, "{path}");
        let admin_status = get(&admin).await.unwrap().status();
        assert!(
            admin_status == StatusCode::OK || admin_status == StatusCode::NOT_FOUND,
            "{path}: {admin_status}"
        );
    }
    let account = app
        .client
        .get(app.url("/account"))
        .header(header::COOKIE, &viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for label in ["Single sign-on", "SCIM provisioning", "API keys", "Webhooks"] {
        assert!(!account.contains(label), "{label} in a viewer's menu");
    }
}
