//! `tenantry rotate-keys` re-seals webhook signing secrets: after it, the
//! stored ciphertexts carry the new key id, a worker holding only the new key
//! opens them, and deliveries are signed with the very same secrets as before.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tenantry::{
    crypto::SecretBox,
    db::TenantId,
    integrations::webhooks::{deliverer, signing::seal_context, worker::Deliverer},
};
use uuid::Uuid;

use super::receiver::{Behaviour, Received, Receiver, verify};
use crate::{
    helpers::{TestApp, TestConfig},
    production::key_rotation::{NEW_ENCRYPTION, OLD_ENCRYPTION, old_keys, rotate_keys, rotating_keys},
};

/// The endpoint's sealed (current, previous) secrets as stored.
async fn sealed(app: &TestApp, id: Uuid) -> (Vec<u8>, Vec<u8>) {
    sqlx::query_as("SELECT secret_enc, previous_secret_enc FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap()
}

/// Sends a test ping and runs `w` until the receiver accepted the `n`th ping
/// (other events of the endpoint arrive too, in order).
async fn ping(app: &TestApp, token: &str, id: Uuid, w: &Deliverer, rx: &Receiver, n: usize) -> Received {
    let r = app.post(&format!("/api/v1/webhooks/{id}/test"), token, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let pings = || -> Vec<Received> {
        rx.accepted()
            .into_iter()
            .filter(|m| m.json()["type"] == "webhook.test")
            .collect()
    };
    for _ in 0..200 {
        w.deliver_due().await.unwrap();
        if pings().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = pings();
    assert_eq!(got.len(), n, "the ping arrived");
    got[n - 1].clone()
}

/// The message verifies with `current` alone and with `previous` alone.
fn signed_with_both(msg: &Received, current: &str, previous: &str) {
    let sigs: Vec<&str> = msg.signature.split(' ').collect();
    assert_eq!(sigs.len(), 2, "{}", msg.signature);
    let only = |s: &str| Received {
        signature: s.to_string(),
        ..msg.clone()
    };
    assert!(verify(current, &only(sigs[0])), "the current secret signs");
    assert!(verify(previous, &only(sigs[1])), "the previous secret signs");
}

#[tokio::test]
async fn rotate_keys_re_seals_webhook_secrets_and_deliveries_keep_their_signatures() {
    let mut config = TestConfig::default()
        .set("WEBHOOK_ALLOW_PRIVATE", "true")
        .set("WEBHOOK_RETRY_BASE_MS", 1);
    for (k, v) in old_keys() {
        config = config.set(k, v);
    }
    let app = TestApp::spawn_with(config).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "tenant_admin").await;
    let rx = Receiver::start(Behaviour::FailFirst(0)).await;
    let r = app
        .post("/api/v1/webhooks", &token, json!({"url": rx.url, "event_types": ["*"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let first = r.body["secret"].as_str().unwrap().to_string();
    // A secret rotation, so both sealed columns hold a value.
    let r = app
        .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), &token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second = r.body["secret"].as_str().unwrap().to_string();

    let before = sealed(&app, id).await;
    assert_eq!(SecretBox::key_id_of(&before.0), Some("k1"));
    assert_eq!(SecretBox::key_id_of(&before.1), Some("k1"));
    let old_worker = deliverer(
        &app.state.config,
        tenantry::jobs::webhook_deliveries(&app.state.db),
        app.state.secrets.clone(),
    );
    signed_with_both(&ping(&app, &token, id, &old_worker, &rx, 1).await, &second, &first);

    let report = rotate_keys(&app, &rotating_keys()).await;
    assert!(report.contains("webhook_endpoints: 1 re-sealed, 0 failed"), "{report}");

    let after = sealed(&app, id).await;
    assert_eq!(SecretBox::key_id_of(&after.0), Some("k2"));
    assert_eq!(SecretBox::key_id_of(&after.1), Some("k2"));
    let context = seal_context(TenantId::from_trusted(t.id), id);
    let old_only = SecretBox::new("k1", OLD_ENCRYPTION);
    assert!(
        old_only.open(&after.0, &context).is_err(),
        "no longer under the old key"
    );
    let new_only = SecretBox::new("k2", NEW_ENCRYPTION);
    assert_eq!(new_only.open_string(&after.0, &context).unwrap(), second);
    assert_eq!(new_only.open_string(&after.1, &context).unwrap(), first);

    // A worker that holds only the new key signs with the same two secrets.
    let new_worker = deliverer(
        &app.state.config,
        tenantry::jobs::webhook_deliveries(&app.state.db),
        new_only,
    );
    signed_with_both(&ping(&app, &token, id, &new_worker, &rx, 2).await, &second, &first);
    let r = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
    let items = r.body["items"].as_array().unwrap();
    assert!(items.iter().all(|d| d["status"] == "succeeded"), "{}", r.body);
}
