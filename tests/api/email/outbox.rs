//! The outbox: transactional queueing, at-most-once claiming, dead letters, suppression.

use serde_json::json;
use tenantry::{
    app::AppState,
    db::Db,
    email::{EmailTemplate, drain_once, enqueue},
    jobs::email_outbox,
};

use super::{
    mail_config, queue, row,
    support::{FakeSes, SmtpSink},
    tenant,
};
use crate::helpers::TestApp;

#[tokio::test]
async fn a_message_queued_in_a_rolled_back_transaction_is_never_sent() {
    let (ses, smtp) = (FakeSes::start().await, SmtpSink::start().await);
    let app = TestApp::spawn_with(mail_config(&ses, &smtp)).await;
    let t = tenant(&app, "Acme").await;

    let mut tx = app.state.db.tenant_tx(t).await.unwrap();
    enqueue(&mut tx, t, "ghost@example.com", EmailTemplate::Welcome, json!({}))
        .await
        .unwrap();
    drop(tx); // rolled back, like a failed request
    queue(
        &app,
        t,
        "real@example.com",
        EmailTemplate::Welcome,
        json!({"first_name": "Real"}),
    )
    .await;

    assert_eq!(
        drain_once(&email_outbox(&app.state.db), &app.state.email)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        drain_once(&email_outbox(&app.state.db), &app.state.email)
            .await
            .unwrap(),
        0
    );
    let sent = ses.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["Destination"]["ToAddresses"], json!(["real@example.com"]));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox")
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap();
    assert_eq!(count, 1, "the rolled-back row never existed");
}

#[tokio::test]
async fn queueing_refuses_a_bad_address_or_a_context_missing_its_keys() {
    let app = TestApp::spawn().await;
    let t = tenant(&app, "Acme").await;
    let mut tx = app.state.db.tenant_tx(t).await.unwrap();
    assert!(
        enqueue(&mut tx, t, "a@b.c\r\nBcc: x@y.z", EmailTemplate::Welcome, json!({}))
            .await
            .is_err()
    );
    assert!(
        enqueue(
            &mut tx,
            t,
            "a@b.co",
            EmailTemplate::PasswordReset,
            json!({"first_name": "A"})
        )
        .await
        .is_err()
    );
    // The tenant transaction cannot queue mail for another tenant (RLS).
    let other = tenant(&app, "Other").await;
    assert!(
        enqueue(&mut tx, other, "a@b.co", EmailTemplate::Welcome, json!({}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_dead_after_the_maximum_attempts() {
    let smtp = SmtpSink::start().await;
    let config = smtp.config().set("EMAIL_MAX_ATTEMPTS", 2);
    let app = TestApp::spawn_with(config).await;
    let t = tenant(&app, "Acme").await;
    let mut db = app.db.superuser().await;
    smtp.set_up(false);
    let id = queue(
        &app,
        t,
        "ada@example.com",
        EmailTemplate::Welcome,
        json!({"token": "set-pw"}),
    )
    .await;
    for expected in ["pending", "dead"] {
        sqlx::query("UPDATE email_outbox SET next_attempt_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut db)
            .await
            .unwrap();
        drain_once(&email_outbox(&app.state.db), &app.state.email)
            .await
            .unwrap();
        assert_eq!(row(&mut db, id).await.status, expected);
    }
    let r = row(&mut db, id).await;
    assert!(r.last_error.is_some() && r.context.get("token").is_none(), "{r:?}");
}

#[tokio::test]
async fn two_workers_never_send_one_message_twice() {
    let smtp = SmtpSink::start().await;
    let config = smtp.config();
    let app = TestApp::spawn_with(config).await;
    let t = tenant(&app, "Acme").await;
    let mut tx = app.state.db.tenant_tx(t).await.unwrap();
    for i in 0..50 {
        enqueue(
            &mut tx,
            t,
            &format!("user{i}@example.com"),
            EmailTemplate::Welcome,
            json!({}),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    // A second instance: its own pool and its own provider connections.
    let other = AppState::new(app.state.config.clone(), Db::connect(&app.db.url, 10).await.unwrap())
        .await
        .unwrap();
    let (job_a, job_b) = (email_outbox(&app.state.db), email_outbox(&other.db));
    let (a, b) = tokio::join!(drain_once(&job_a, &app.state.email), drain_once(&job_b, &other.email));
    assert_eq!(a.unwrap() + b.unwrap(), 50);

    let got = smtp.received();
    let mut to: Vec<String> = got.iter().flat_map(|m| m.recipients.clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!((got.len(), to.len()), (50, 50), "every message exactly once");
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE status = 'sent' AND attempts = 1")
        .fetch_one(&mut app.db.superuser().await)
        .await
        .unwrap();
    assert_eq!(sent, 50);
}

#[tokio::test]
async fn a_suppressed_address_is_skipped_and_the_reason_recorded() {
    let (ses, smtp) = (FakeSes::start().await, SmtpSink::start().await);
    let app = TestApp::spawn_with(mail_config(&ses, &smtp)).await;
    let t = tenant(&app, "Acme").await;
    let mut db = app.db.superuser().await;
    sqlx::query("INSERT INTO email_suppressions (email, reason) VALUES ('gone@example.com', 'bounce')")
        .execute(&mut db)
        .await
        .unwrap();
    let id = queue(
        &app,
        t,
        "Gone@Example.com",
        EmailTemplate::PasswordReset,
        json!({"token": "t"}),
    )
    .await;
    let ok = queue(
        &app,
        t,
        "here@example.com",
        EmailTemplate::PasswordReset,
        json!({"token": "t"}),
    )
    .await;
    drain_once(&email_outbox(&app.state.db), &app.state.email)
        .await
        .unwrap();

    let r = row(&mut db, id).await;
    assert_eq!(r.status, "suppressed");
    assert!(r.suppressed_reason.unwrap().contains("bounce"));
    assert!(r.context.get("token").is_none());
    assert_eq!(row(&mut db, ok).await.status, "sent");
    let sent = ses.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["Destination"]["ToAddresses"], json!(["here@example.com"]));
}

#[tokio::test]
async fn the_background_worker_delivers_queued_mail_and_stops_on_shutdown() {
    let smtp = SmtpSink::start().await;
    let config = smtp.config().set("EMAIL_WORKER", "true");
    let app = TestApp::spawn_with(config).await;
    let background = tenantry::jobs::spawn(&app.state);
    let t = tenant(&app, "Acme").await;
    let id = queue(&app, t, "ada@example.com", EmailTemplate::Welcome, json!({})).await;
    app.state.email.wake();
    let mut db = app.db.superuser().await;
    for _ in 0..100 {
        if row(&mut db, id).await.status == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(row(&mut db, id).await.status, "sent");
    assert_eq!(smtp.received().len(), 1);
    tokio::time::timeout(std::time::Duration::from_secs(10), background.shutdown())
        .await
        .expect("worker stops");
}
