//! SIGTERM drains one instance while the other keeps serving.

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

use super::{pair, status_of};
use crate::{
    helpers::*,
    scale::{Redis, login},
};

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
