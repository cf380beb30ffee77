//! Providers: SES first, SMTP when SES fails, retries while both are down.

use serde_json::json;
use tenantry::{
    email::{EmailTemplate, drain_once},
    jobs::email_outbox,
};

use super::{
    mail_config, queue, row,
    support::{FakeSes, SmtpSink},
    tenant,
};
use crate::helpers::TestApp;

#[tokio::test]
async fn ses_failure_falls_back_to_smtp_and_records_the_provider_that_sent() {
    let (ses, smtp) = (FakeSes::start().await, SmtpSink::start().await);
    let app = TestApp::spawn_with(mail_config(&ses, &smtp)).await;
    let t = tenant(&app, "Acme <Labs>").await;
    let mut db = app.db.superuser().await;

    // SES healthy: it sends, and its message id is kept.
    let via_ses = queue(
        &app,
        t,
        "ada@example.com",
        EmailTemplate::PasswordReset,
        json!({"token": "tok-1"}),
    )
    .await;
    drain_once(&email_outbox(&app.state.db), &app.state.email)
        .await
        .unwrap();
    let r = row(&mut db, via_ses).await;
    assert_eq!((r.status.as_str(), r.provider.as_deref()), ("sent", Some("ses")));
    assert_eq!(r.provider_message_id.as_deref(), Some("ses-1"));
    assert!(
        r.context.get("token").is_none(),
        "the raw token is scrubbed once sent: {}",
        r.context
    );

    // SES answers 500: the message goes out through SMTP, recorded as such.
    ses.set_failing(true);
    let ctx = json!({"first_name": "<b>Grace</b>", "token": "tok-2"});
    let via_smtp = queue(&app, t, "grace@example.com", EmailTemplate::PasswordReset, ctx).await;
    assert_eq!(
        drain_once(&email_outbox(&app.state.db), &app.state.email)
            .await
            .unwrap(),
        1
    );
    let r = row(&mut db, via_smtp).await;
    assert_eq!(
        (r.status.as_str(), r.provider.as_deref(), r.attempts),
        ("sent", Some("smtp"), 1)
    );
    assert_eq!(r.provider_message_id, Some(format!("<{via_smtp}@tenantry.test>")));
    assert!(
        ses.requests.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "SES was tried first"
    );

    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].recipients, ["grace@example.com"]);
    let data = &got[0].data;
    assert!(data.contains("Subject: Reset your Tenantry Test password"), "{data}");
    assert!(
        data.contains("text/plain") && data.contains("text/html"),
        "both forms are sent: {data}"
    );
    // Quoted-printable may wrap lines; compare without soft breaks.
    let flat = data.replace("=\n", "");
    assert!(
        flat.contains("&lt;b&gt;Grace&lt;&#x2f;b&gt;") || flat.contains("&lt;b&gt;Grace"),
        "HTML escapes: {flat}"
    );
    assert!(flat.contains("reset-password?token=3Dtok-2") || flat.contains("reset-password?token=tok-2"));
}

#[tokio::test]
async fn with_both_providers_down_the_message_waits_and_goes_out_once_they_return() {
    let (ses, smtp) = (FakeSes::start().await, SmtpSink::start().await);
    let app = TestApp::spawn_with(mail_config(&ses, &smtp)).await;
    let t = tenant(&app, "Acme").await;
    let mut db = app.db.superuser().await;
    ses.set_failing(true);
    smtp.set_up(false);

    let id = queue(
        &app,
        t,
        "ada@example.com",
        EmailTemplate::EmailVerification,
        json!({"token": "v"}),
    )
    .await;
    assert_eq!(
        drain_once(&email_outbox(&app.state.db), &app.state.email)
            .await
            .unwrap(),
        1
    );
    let r = row(&mut db, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 1));
    assert!(!r.due_now, "the retry is scheduled with backoff");
    let error = r.last_error.unwrap();
    assert!(error.contains("ses") && error.contains("smtp"), "{error}");
    assert_eq!(
        drain_once(&email_outbox(&app.state.db), &app.state.email)
            .await
            .unwrap(),
        0,
        "not due again yet"
    );

    // The details (provider, queue) are for super admins; the public sees status and latency.
    let admin = app.super_admin_token().await;
    let health = app.get("/health/detailed", &admin).await;
    let email = &health.body["checks"]["email"];
    assert_eq!(email["provider"], "ses+smtp");
    assert_eq!(email["queue_depth"], 1);
    assert_eq!(email["status"], "degraded", "{email}");
    assert!(email["oldest_pending_age_seconds"].is_number(), "{email}");

    // The providers return and the backoff elapses.
    ses.set_failing(false);
    smtp.set_up(true);
    sqlx::query("UPDATE email_outbox SET next_attempt_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        drain_once(&email_outbox(&app.state.db), &app.state.email)
            .await
            .unwrap(),
        1
    );
    let r = row(&mut db, id).await;
    assert_eq!(
        (r.status.as_str(), r.provider.as_deref(), r.attempts),
        ("sent", Some("ses"), 2)
    );
    assert_eq!(ses.sent.lock().unwrap().len(), 1);

    let health = app.get("/health/detailed", &admin).await;
    let email = &health.body["checks"]["email"];
    assert_eq!(
        (email["status"].as_str(), email["queue_depth"].as_i64()),
        (Some("ok"), Some(0)),
        "{email}"
    );
    assert_eq!(email["last_success_provider"], "ses");
    assert!(email["last_success_at"].is_string());
}
