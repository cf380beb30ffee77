//! The SES webhook accepts only the SNS topics named in `SNS_TOPIC_ARNS`. A valid
//! signature proves only that *some* AWS account sent the message: anyone can
//! create a topic, subscribe our URL to it and publish bounces for any address.
//! Unset, every delivery is refused (and start-up with SES warns once).

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    email::support::{SNS_TOPIC, SnsSigner, bounce_event},
    hardening::logs::capture_logs,
    helpers::{Resp, TestApp, TestConfig},
};

const ATTACKER_TOPIC: &str = "arn:aws:sns:eu-central-1:999999999999:my-own-topic";

async fn post_sns(app: &TestApp, body: &Value) -> Resp {
    let r = app
        .client
        .post(app.url("/api/v1/webhooks/ses"))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

async fn suppressed(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM email_suppressions")
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn with_no_topic_configured_signed_deliveries_and_subscriptions_are_refused() {
    let signer = SnsSigner::start().await;
    // The certificate host is trusted, so only the topic rule can refuse.
    let app = TestApp::spawn_with(TestConfig::default().set("SNS_CERT_URL_PREFIX_ALLOWLIST", &signer.base)).await;
    for topic in [SNS_TOPIC, ATTACKER_TOPIC] {
        let confirm = signer.signed_on(topic, "SubscriptionConfirmation", "You have chosen to subscribe", "1");
        let r = post_sns(&app, &confirm).await;
        r.assert_problem(StatusCode::FORBIDDEN);
        assert!(
            r.body["detail"].as_str().unwrap().contains("SNS_TOPIC_ARNS"),
            "{}",
            r.body
        );
        let bounce = signer.signed_on(topic, "Notification", &bounce_event("victim@example.com"), "2");
        post_sns(&app, &bounce).await.assert_problem(StatusCode::FORBIDDEN);
    }
    assert_eq!(
        signer.confirmations.load(Ordering::SeqCst),
        0,
        "no subscription was confirmed"
    );
    assert_eq!(suppressed(&app).await, 0, "nobody was suppressed");
}

#[tokio::test]
async fn only_the_configured_topics_are_accepted() {
    let signer = SnsSigner::start().await;
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("SNS_CERT_URL_PREFIX_ALLOWLIST", &signer.base)
            .set(
                "SNS_TOPIC_ARNS",
                format!("arn:aws:sns:us-east-1:123456789012:other, {SNS_TOPIC}"),
            ),
    )
    .await;
    let foreign = signer.signed_on(ATTACKER_TOPIC, "SubscriptionConfirmation", "subscribe", "1");
    post_sns(&app, &foreign).await.assert_problem(StatusCode::FORBIDDEN);
    let foreign = signer.signed_on(ATTACKER_TOPIC, "Notification", &bounce_event("victim@example.com"), "1");
    post_sns(&app, &foreign).await.assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(signer.confirmations.load(Ordering::SeqCst), 0);
    assert_eq!(suppressed(&app).await, 0);

    // Our own topic still works.
    let r = post_sns(&app, &signer.signed("SubscriptionConfirmation", "subscribe", "1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(signer.confirmations.load(Ordering::SeqCst), 1);
    let r = post_sns(
        &app,
        &signer.signed("Notification", &bounce_event("gone@example.com"), "2"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(suppressed(&app).await, 1);
}

#[tokio::test]
async fn start_up_with_ses_and_no_topic_warns_once() {
    let ses = |topics: Option<&str>| {
        let c = TestConfig::default()
            .set("EMAIL_PROVIDER", "ses")
            .set("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .set("AWS_REGION", "eu-central-1")
            .set("AWS_ACCESS_KEY_ID", "test-access-key")
            .set("AWS_SECRET_ACCESS_KEY", "test-secret-key");
        match topics {
            Some(t) => c.set("SNS_TOPIC_ARNS", t),
            None => c,
        }
    };
    let warning = "SNS_TOPIC_ARNS is unset";

    let (logs, guard) = capture_logs();
    let app = TestApp::spawn_with(ses(None)).await;
    post_sns(&app, &serde_json::json!({"Type": "Notification"})).await;
    drop(guard);
    assert_eq!(logs.text().matches(warning).count(), 1, "{}", logs.text());

    for config in [ses(Some(SNS_TOPIC)), TestConfig::default()] {
        let (logs, _guard) = capture_logs();
        let _app = TestApp::spawn_with(config).await;
        assert_eq!(logs.text().matches(warning).count(), 0, "{}", logs.text());
    }
}
