//! `POST /api/v1/webhooks/ses`: SNS signature verification and suppression, and
//! the super-admin suppression endpoints.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::support::{SNS_TOPIC, SnsSigner, bounce_event, complaint_event};
use crate::helpers::{Resp, TestApp, TestConfig};

async fn suppressions(db: &mut PgConnection) -> Vec<(String, String)> {
    sqlx::query_as("SELECT email, reason FROM email_suppressions ORDER BY email")
        .fetch_all(db)
        .await
        .unwrap()
}

/// An app whose SNS verifier accepts certificates from the signer's loopback
/// server and deliveries on the signer's topic.
async fn sns_app(signer: &SnsSigner) -> TestApp {
    TestApp::spawn_with(
        TestConfig::default()
            .set("SNS_CERT_URL_PREFIX_ALLOWLIST", &signer.base)
            .set("SNS_TOPIC_ARNS", SNS_TOPIC),
    )
    .await
}

async fn post_sns(app: &TestApp, body: &Value) -> Resp {
    let r = app
        .client
        .post(app.url("/api/v1/webhooks/ses"))
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", body["Type"].as_str().unwrap_or_default())
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

#[tokio::test]
async fn a_forged_sns_notification_is_refused_and_changes_nothing() {
    let signer = SnsSigner::start().await;
    let app = sns_app(&signer).await;
    let mut db = app.db.superuser().await;

    // Signed, then altered: the signature no longer matches.
    let mut forged = signer.signed("Notification", &bounce_event("victim@example.com"), "1");
    forged["Message"] = json!(bounce_event("ceo@example.com"));
    post_sns(&app, &forged).await.assert_problem(StatusCode::FORBIDDEN);

    // A certificate from a host that is not SNS.
    let mut elsewhere = signer.signed("Notification", &bounce_event("victim@example.com"), "2");
    elsewhere["SigningCertURL"] = json!("https://evil.example.com/cert.pem");
    post_sns(&app, &elsewhere).await.assert_problem(StatusCode::FORBIDDEN);

    // Not a signature at all.
    let mut garbage = signer.signed("Notification", &bounce_event("victim@example.com"), "2");
    garbage["Signature"] = json!("AAAA");
    post_sns(&app, &garbage).await.assert_problem(StatusCode::FORBIDDEN);

    // Not an SNS message.
    post_sns(&app, &json!({"hello": "world"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert!(suppressions(&mut db).await.is_empty());
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE resource_type = 'email_suppression'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(audited, 0);
}

#[tokio::test]
async fn the_real_sns_host_rule_applies_without_the_test_allowlist() {
    let signer = SnsSigner::start().await;
    let app = TestApp::spawn_with(TestConfig::default().set("SNS_TOPIC_ARNS", SNS_TOPIC)).await;
    let valid_elsewhere = signer.signed("Notification", &bounce_event("a@example.com"), "1");
    post_sns(&app, &valid_elsewhere)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert!(suppressions(&mut app.db.superuser().await).await.is_empty());
}

#[tokio::test]
async fn a_validly_signed_notification_adds_the_suppression_and_super_admins_manage_it() {
    let signer = SnsSigner::start().await;
    let app = sns_app(&signer).await;
    let mut db = app.db.superuser().await;

    let confirm = signer.signed("SubscriptionConfirmation", "You have chosen to subscribe", "1");
    let r = post_sns(&app, &confirm).await;
    assert_eq!(
        (r.status, r.body["result"].as_str()),
        (StatusCode::OK, Some("subscription_confirmed")),
        "{}",
        r.body
    );
    assert_eq!(signer.confirmations.load(std::sync::atomic::Ordering::SeqCst), 1);

    let r = post_sns(
        &app,
        &signer.signed("Notification", &bounce_event("Bounced@Example.com"), "1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["suppressed"], json!(["bounced@example.com"]));
    let r = post_sns(
        &app,
        &signer.signed("Notification", &complaint_event("angry@example.com"), "2"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let transient = bounce_event("later@example.com").replace("Permanent", "Transient");
    let r = post_sns(&app, &signer.signed("Notification", &transient, "2")).await;
    assert_eq!(r.body["result"], "ignored");
    assert_eq!(
        suppressions(&mut db).await,
        [
            ("angry@example.com".into(), "complaint".into()),
            ("bounced@example.com".into(), "bounce".into())
        ]
    );

    // Super admins list and remove suppressions; tenant users cannot.
    let admin = app.super_admin_token().await;
    let list = app.get("/api/v1/admin/email/suppressions?page_size=1", &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(
        (list.body["total"].as_i64(), list.body["items"].as_array().map(Vec::len)),
        (Some(2), Some(1))
    );
    let list = app
        .get("/api/v1/admin/email/suppressions?reason=bounce&search=BOUNCED", &admin)
        .await;
    assert_eq!(list.body["items"][0]["email"], "bounced@example.com", "{}", list.body);
    assert_eq!(list.body["items"][0]["details"]["bounce_sub_type"], "General");

    let acme = app.seed_tenant("acme").await;
    let tenant_admin = acme.token(&app, "tenant_admin").await;
    app.get("/api/v1/admin/email/suppressions", &tenant_admin)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    app.delete("/api/v1/admin/email/suppressions/bounced@example.com", &tenant_admin)
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    let r = app
        .delete("/api/v1/admin/email/suppressions/Bounced@example.com", &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    app.delete("/api/v1/admin/email/suppressions/bounced@example.com", &admin)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(
        suppressions(&mut db).await,
        [("angry@example.com".into(), "complaint".into())]
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_logs WHERE tenant_id = '00000000-0000-0000-0000-000000000001' \
         AND resource_type = 'email_suppression' ORDER BY seq",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "email_suppression.upserted",
            "email_suppression.upserted",
            "email_suppression.deleted"
        ]
    );
}
