//! Two `tenantry serve` processes over one database and one Redis behave as one
//! service.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;
use tenantry::{
    db::{Db, TenantId},
    email::EmailTemplate,
};

use super::{Instance, Redis, login, smtp_sink::SmtpSink};
use crate::helpers::*;

/// Instances A and B over `app`'s database and `redis`; `vars` apply to both.
async fn pair(app: &TestApp, redis: &Redis, vars: &[(&str, &str)]) -> (Instance, Instance) {
    let mut all = vec![("REDIS_URL", redis.url.as_str())];
    all.extend_from_slice(vars);
    let env = Instance::env(&app.db.url, &all);
    // A applies migrations at start (a no-op here), B trusts them: both are valid.
    let a = Instance::start("A", &env, &["serve"]).await;
    let b = Instance::start("B", &env, &["serve", "--no-migrate"]).await;
    (a, b)
}

async fn status_of(client: &reqwest::Client, instance: &Instance, token: &str) -> StatusCode {
    client
        .get(instance.url("/api/v1/auth/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// A token issued by A works on B; a refresh token from A rotates on B; a logout
/// on A is refused by A at once and by B within B's session-cache TTL
/// (AUTH_CACHE_TTL_MS, 1 s here; B's cache is warm when the logout happens).
#[tokio::test]
async fn sessions_are_shared_and_logout_reaches_every_instance_within_the_cache_ttl() {
    let app = TestApp::spawn().await;
    let Some(redis) = Redis::start().await else {
        eprintln!("SKIPPED: no redis-server and nothing on 127.0.0.1:6379");
        return;
    };
    let (a, b) = pair(&app, &redis, &[("AUTH_CACHE_TTL_MS", "1000")]).await;
    let t = app.seed_tenant("alpha").await;
    let client = reqwest::Client::new();

    let tokens = login(&client, &a.base, t.email("user"), &t.slug).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(status_of(&client, &b, access).await, StatusCode::OK, "A's token on B");
    assert_eq!(status_of(&client, &a, access).await, StatusCode::OK);

    // Refresh on B with A's refresh token, then the old one is spent everywhere.
    let r = client
        .post(b.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "A's refresh token on B");
    let rotated: serde_json::Value = r.json().await.unwrap();
    let access = rotated["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        status_of(&client, &a, &access).await,
        StatusCode::OK,
        "B's rotated token on A"
    );

    // Warm B's session cache, then log out on A; measure how long B keeps
    // accepting the token.
    assert_eq!(status_of(&client, &b, &access).await, StatusCode::OK);
    let r = client
        .post(a.url("/api/v1/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let logged_out = Instant::now();
    let mut accepted_after_logout = 0;
    let lag = loop {
        match status_of(&client, &b, &access).await {
            StatusCode::UNAUTHORIZED => break logged_out.elapsed(),
            StatusCode::OK => accepted_after_logout += 1,
            other => panic!("unexpected {other}"),
        }
        assert!(
            logged_out.elapsed() < Duration::from_millis(1500),
            "B still accepts the token 1.5 s after logout (TTL 1 s)"
        );
    };
    eprintln!("logout on A refused on B after {lag:?} ({accepted_after_logout} request(s) accepted in between)");
    assert_eq!(
        status_of(&client, &a, &access).await,
        StatusCode::UNAUTHORIZED,
        "A: at once"
    );
}

/// The per-IP login budget is spent once across both instances (Redis), not
/// once per instance.
#[tokio::test]
async fn login_rate_limit_is_one_budget_across_instances() {
    const BUDGET: usize = 6;
    let app = TestApp::spawn().await;
    let Some(redis) = Redis::start().await else {
        eprintln!("SKIPPED: no redis-server and nothing on 127.0.0.1:6379");
        return;
    };
    let budget = BUDGET.to_string();
    let (a, b) = pair(&app, &redis, &[("RATE_LIMIT_LOGIN_PER_MINUTE", &budget)]).await;
    let client = reqwest::Client::new();

    let mut outcomes: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    for i in 0..3 * BUDGET {
        let instance = if i % 2 == 0 { &a } else { &b };
        let r = client
            .post(instance.url("/api/v1/auth/login"))
            .json(&json!({"email": format!("nobody{i}@nowhere.test"), "password": "wrong-password-123"}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"), "429 without Retry-After");
        }
        outcomes.entry(instance.name).or_default().push(r.status().as_u16());
    }
    eprintln!("login attempts alternating A/B with a budget of {BUDGET}/min: {outcomes:?}");
    let allowed = outcomes.values().flatten().filter(|s| **s != 429).count();
    assert_eq!(
        allowed, BUDGET,
        "one shared budget, not {BUDGET} per instance: {outcomes:?}"
    );
    for (name, statuses) in &outcomes {
        assert!(statuses.contains(&429), "{name} never refused: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{name}: {statuses:?}");
    }
    let db_name = app.db.name.as_str();
    let keys = redis.keys(&format!("tenantry:rl:{db_name}:*")).await;
    assert!(
        !keys.is_empty(),
        "the counters live in Redis under the database's namespace"
    );
}

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

/// How a load-generating client saw one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    /// The connection was refused (A's listener is closed): a client retries
    /// elsewhere; nothing reached the server.
    Refused,
    /// Anything else: an error status, a reset after connecting, a cut response.
    Failed,
}

async fn classify(result: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match result {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(_) => Outcome::Ok,
            Err(e) => {
                eprintln!("failed while reading a 2xx body: {e:?}");
                Outcome::Failed
            }
        },
        Ok(r) => {
            eprintln!("failed with status {}", r.status());
            Outcome::Failed
        }
        Err(e) if e.is_connect() || closed_before_any_response(&e) => Outcome::Refused,
        Err(e) => {
            eprintln!("failed: {e:?}");
            Outcome::Failed
        }
    }
}

/// A connection the kernel had already queued on A's listening socket when A
/// closed it is reset without a byte of response: the server never saw the
/// request, so a client (or load balancer) retries it exactly like a refusal.
/// Anything with a response, or a reset after one began, stays a failure.
fn closed_before_any_response(e: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        if text.contains("connection closed before message completed") || text.contains("Connection reset by peer") {
            return e.status().is_none();
        }
        source = err.source();
    }
    false
}

/// SIGTERM to A while both serve a mixed load (slow logins and session checks):
/// A stops accepting, finishes what it had in flight, exits 0; every request
/// either succeeds or was refused at connect (and then succeeds on B, as a
/// client or load balancer would retry); B keeps serving throughout.
#[tokio::test]
async fn sigterm_drains_one_instance_while_the_other_keeps_serving() {
    let app = TestApp::spawn().await;
    let Some(redis) = Redis::start().await else {
        eprintln!("SKIPPED: no redis-server and nothing on 127.0.0.1:6379");
        return;
    };
    let (mut a, b) = pair(&app, &redis, &[]).await;
    let t = app.seed_tenant("alpha").await;
    let idle_rss = (a.rss_kib(), b.rss_kib());
    // A fresh connection per request: no request is ever written to a pooled
    // connection the server has already decided to close.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let token = login(&client, &b.base, t.email("viewer"), &t.slug).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let email = t.email("viewer").to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let retried = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..6usize {
        let (client, token, email, stop, retried) = (
            client.clone(),
            token.clone(),
            email.clone(),
            stop.clone(),
            retried.clone(),
        );
        let bases = [a.base.clone(), b.base.clone()];
        let slug = t.slug.clone();
        workers.push(tokio::spawn(async move {
            let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let send = |base: &str| {
                    if i % 3 == 0 {
                        client
                            .post(format!("{base}/api/v1/auth/login"))
                            .json(&json!({"email": email, "password": PASSWORD, "tenant_slug": slug}))
                            .send()
                    } else {
                        client
                            .get(format!("{base}/api/v1/auth/status"))
                            .bearer_auth(&token)
                            .send()
                    }
                };
                let mut outcome = classify(send(&bases[i % 2]).await).await;
                outcomes.entry(outcome).and_modify(|n| *n += 1).or_insert(1);
                if outcome == Outcome::Refused {
                    // What the load balancer does: the same request on the other instance.
                    retried.fetch_add(1, Ordering::Relaxed);
                    outcome = classify(send(&bases[1]).await).await;
                    assert_eq!(outcome, Outcome::Ok, "the retry on B failed");
                }
                i += 1;
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Slow requests in flight on A at the moment of the signal: more logins than
    // A hashes at once (one Argon2id per core), so most are still queued or
    // hashing when the signal arrives.
    let in_flight: Vec<_> = (0..12)
        .map(|_| {
            let request = client
                .post(a.url("/api/v1/auth/login"))
                .json(&json!({"email": email, "password": PASSWORD, "tenant_slug": t.slug}))
                .send();
            tokio::spawn(async move {
                let r = request.await;
                (r.map(|r| r.status()), Instant::now())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let loaded_rss = (a.rss_kib(), b.rss_kib());
    let signalled = Instant::now();
    a.sigterm();
    let status = a.wait_exit(Duration::from_secs(30)).await;
    let drain = signalled.elapsed();
    let mut finished_after_signal = 0;
    for r in in_flight {
        let (result, done) = r.await.unwrap();
        let code = result.expect("a request in flight at SIGTERM was cut off");
        assert_eq!(code, StatusCode::OK, "in-flight request on A");
        finished_after_signal += usize::from(done > signalled);
    }
    eprintln!("{finished_after_signal} of 12 logins in flight on A completed after its SIGTERM");
    assert!(
        finished_after_signal > 0,
        "no request was in flight at the signal: the drain went untested"
    );
    assert!(status.success(), "A exited with {status}:\n{}", a.log());

    // B keeps serving alone for a while.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total: BTreeMap<Outcome, usize> = BTreeMap::new();
    for w in workers {
        for (k, v) in w.await.unwrap() {
            *total.entry(k).or_default() += v;
        }
    }
    for _ in 0..5 {
        assert_eq!(
            status_of(&client, &b, &token).await,
            StatusCode::OK,
            "B after A stopped"
        );
    }
    let refused = total.get(&Outcome::Refused).copied().unwrap_or(0);
    eprintln!(
        "SIGTERM to A: exited {status} after {drain:?}; requests {total:?}, {} refused-then-retried on B",
        retried.load(Ordering::Relaxed)
    );
    eprintln!("RSS KiB (debug build): idle A/B {idle_rss:?}, under load A/B {loaded_rss:?}");
    assert_eq!(
        total.get(&Outcome::Failed),
        None,
        "requests failed other than by refusal: {total:?}\nA:\n{}",
        a.log()
    );
    assert!(refused > 0, "the load should have hit A after it closed its listener");
    assert!(total[&Outcome::Ok] > 20, "{total:?}");
    let log = std::fs::read_to_string(a.log_path()).unwrap();
    assert!(log.contains("draining"), "A logged its drain:\n{}", a.log());
}
