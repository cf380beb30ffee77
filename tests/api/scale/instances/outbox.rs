//! The email outbox, drained by both instances' workers exactly once.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::json;
use tenantry::{
    db::{Db, TenantId},
    email::EmailTemplate,
};

use crate::{
    helpers::*,
    scale::{Instance, Redis, smtp_sink::SmtpSink},
};

/// Both workers drain one outbox; every message reaches the SMTP sink exactly
/// once. Each instance relays to its own sink port, so the sink can tell which
/// worker sent what; the relay is slow enough that both get to claim batches.
#[tokio::test]
async fn outbox_is_drained_by_both_workers_exactly_once() {
    const MESSAGES: usize = 48;
    let app = TestApp::spawn().await;
    let Some(redis) = Redis::start().await else {
        eprintln!("SKIPPED: no redis-server and nothing on 127.0.0.1:6379");
        return;
    };
    let sink = SmtpSink::start(2, Duration::from_millis(400)).await;
    let t = app.seed_tenant("alpha").await;
    let mut env = Instance::env(
        &app.db.url,
        &[
            ("REDIS_URL", &redis.url),
            ("EMAIL_PROVIDER", "smtp"),
            ("EMAIL_WORKER", "true"),
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_TLS", "none"),
        ],
    );
    env.push(("SMTP_PORT".into(), sink.ports[0].to_string()));
    let a = Instance::start("A", &env, &["serve"]).await;
    env.retain(|(k, _)| k != "SMTP_PORT");
    env.push(("SMTP_PORT".into(), sink.ports[1].to_string()));
    let b = Instance::start("B", &env, &["serve", "--no-migrate"]).await;

    // Queue everything in one transaction, as a bulk action would.
    let db = Db::connect(&app.db.url, 2).await.unwrap();
    let mut tx = db.tenant_tx(TenantId::from_trusted(t.id)).await.unwrap();
    for i in 0..MESSAGES {
        tenantry::email::enqueue(
            &mut tx,
            TenantId::from_trusted(t.id),
            &format!("person{i}@alpha.test"),
            EmailTemplate::SecurityAlert,
            json!({"first_name": "Pat", "event": "new_sign_in", "detail": format!("message {i}")}),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.received().len() < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "only {} of {MESSAGES} delivered\nA:\n{}\nB:\n{}",
            sink.received().len(),
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate time to show up (a second claim of a row would send again).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = sink.received();
    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    for m in &received {
        assert!(
            m.recipients.iter().all(|r| m.data.contains(r.as_str())),
            "headers name the recipient: {m:?}"
        );
        for r in &m.recipients {
            *per_recipient.entry(r.clone()).or_default() += 1;
        }
    }
    let by_a = received.iter().filter(|m| m.listener == 0).count();
    let by_b = received.len() - by_a;
    eprintln!("{MESSAGES} queued: A's worker sent {by_a}, B's worker sent {by_b}");
    assert_eq!(received.len(), MESSAGES, "a message was sent twice");
    assert_eq!(per_recipient.len(), MESSAGES);
    assert!(per_recipient.values().all(|n| *n == 1), "duplicates: {per_recipient:?}");
    assert!(
        by_a > 0 && by_b > 0,
        "both workers should share the outbox (A {by_a}, B {by_b})"
    );

    let mut su = app.db.superuser().await;
    let (sent, max_attempts): (i64, i32) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'sent'), max(attempts) FROM email_outbox WHERE tenant_id = $1",
    )
    .bind(t.id)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(sent as usize, MESSAGES);
    assert_eq!(max_attempts, 1, "every message went out on its first claim");
}
