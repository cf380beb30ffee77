//! Sessions and limits cross instances: a token works on both, a logout reaches
//! every instance within the cache TTL, and the login rate limit is one budget.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;

use super::{pair, status_of};
use crate::{
    helpers::*,
    scale::{Redis, login},
};

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
            // Paced: unpaced polls of a fast machine spent the API budget
            // (600 a minute) inside the second and got 429.
            StatusCode::OK => {
                accepted_after_logout += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
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
