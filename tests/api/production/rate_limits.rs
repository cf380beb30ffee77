//! API rate limits on every authenticated route: `RateLimit-Policy`/`RateLimit`
//! headers, 429 with `Retry-After` past the principal's or the tenant's budget,
//! one budget across two instances sharing Redis, and requests that still
//! succeed when Redis is unreachable.

use std::{collections::HashMap, net::SocketAddr};

use reqwest::StatusCode;
use serde_json::json;
use tenantry::{app::AppState, config::Config, db::Db};

use crate::{
    helpers::*,
    support::{CLOSED_ADDR, Redis},
};

const LIST: &str = "/api/v1/projects";

fn limits(api: u32, tenant: u32) -> TestConfig {
    TestConfig::default()
        .set("RATE_LIMIT_API_PER_MINUTE", api)
        .set("RATE_LIMIT_TENANT_PER_MINUTE", tenant)
}

/// `r` of policy `name` in a `RateLimit` field value.
fn remaining(resp: &Resp, name: &str) -> u64 {
    let field = resp.header("ratelimit").expect("RateLimit header");
    let item = field
        .split(',')
        .map(str::trim)
        .find(|i| i.starts_with(&format!("\"{name}\"")))
        .unwrap_or_else(|| panic!("no {name} in {field}"));
    item.split(';')
        .find_map(|p| p.strip_prefix("r="))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no r in {item}"))
}

#[tokio::test]
async fn authenticated_responses_carry_the_ratelimit_headers_and_expensive_routes_cost_more() {
    let app = TestApp::spawn_with(limits(50, 500)).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;

    let r = app.get(LIST, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.header("ratelimit-policy"),
        Some(r#""principal";q=50;w=60, "tenant";q=500;w=60"#)
    );
    let field = r.header("ratelimit").unwrap().to_string();
    assert!(
        field.starts_with(r#""principal";r=49;t="#) && field.contains(r#", "tenant";r=499;t="#),
        "{field}"
    );

    // A 403 spends the budget too: every authenticated request does.
    let r = app.get("/api/v1/admin/dashboard", &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(remaining(&r, "principal"), 48);

    // Search costs 5 units.
    let r = app.post("/api/v1/projects/search", &token, json!({"query": "x"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(remaining(&r, "principal"), 43);

    // Unauthenticated routes have no caller to charge.
    let r = app.call(reqwest::Method::GET, "/health", None, None).await;
    assert!(r.header("ratelimit").is_none() && r.header("ratelimit-policy").is_none());
}

#[tokio::test]
async fn past_the_principal_budget_the_answer_is_429_with_retry_after() {
    let app = TestApp::spawn_with(limits(3, 1000)).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    for left in [2, 1, 0] {
        let r = app.get(LIST, &token).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(remaining(&r, "principal"), left);
    }
    let r = app.get(LIST, &token).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(remaining(&r, "principal"), 0);
    assert!(r.header("ratelimit-policy").is_some());

    // A colleague has a budget of their own.
    let other = t.token(&app, "viewer").await;
    assert_eq!(app.get(LIST, &other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_tenant_budget_is_shared_by_its_users_and_no_other_tenant() {
    let app = TestApp::spawn_with(limits(100, 4)).await;
    let acme = app.seed_tenant("acme").await;
    let globex = app.seed_tenant("globex").await;
    let (a, b) = (acme.token(&app, "user").await, acme.token(&app, "viewer").await);
    for token in [&a, &a, &b, &b] {
        assert_eq!(app.get(LIST, token).await.status, StatusCode::OK);
    }
    let c = acme.token(&app, "project_manager").await;
    let r = app.get(LIST, &c).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
    assert_eq!(remaining(&r, "tenant"), 0);

    let g = globex.token(&app, "user").await;
    assert_eq!(app.get(LIST, &g).await.status, StatusCode::OK);
}

/// Another server over `app`'s database with its own state (its own in-memory
/// limiter), as a second instance behind a load balancer would be.
async fn second_instance(app: &TestApp, overrides: &TestConfig) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut vars: HashMap<String, String> = [
        ("ENVIRONMENT", "test"),
        ("SECRET_KEY", "test-secret-key-0123456789abcdef0123456789"),
        ("EMAIL_PROVIDER", "log"),
        ("EMAIL_WORKER", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.insert("DATABASE_URL".into(), app.db.url.clone());
    vars.insert("BASE_URL".into(), app.base.clone());
    vars.insert("STORAGE_PATH".into(), app.storage_dir.path().display().to_string());
    vars.extend(overrides.0.clone());
    let state = AppState::new(
        Config::from_map(vars).unwrap(),
        Db::connect(&app.db.url, 5).await.unwrap(),
    )
    .await
    .unwrap();
    let router = tenantry::router::router(state);
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    (format!("http://{addr}"), server)
}

async fn list_at(app: &TestApp, base: &str, token: &str) -> StatusCode {
    app.client
        .get(format!("{base}{LIST}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn two_instances_sharing_redis_spend_one_budget() {
    let redis = Redis::start().await.expect("redis-server installed or Redis on 6379");
    // Keys are namespaced by the test's own database name: no other test shares them.
    let cfg = limits(4, 1000).set("REDIS_URL", &redis.url);
    let app = TestApp::spawn_with(cfg.clone()).await;
    let (other, server) = second_instance(&app, &cfg).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    for base in [&app.base, &other, &app.base, &other] {
        assert_eq!(list_at(&app, base, &token).await, StatusCode::OK);
    }
    // Four spent across both instances: each refuses now.
    assert_eq!(list_at(&app, &app.base, &token).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(list_at(&app, &other, &token).await, StatusCode::TOO_MANY_REQUESTS);
    server.abort();
}

#[tokio::test]
async fn an_unreachable_redis_never_fails_a_request() {
    let cfg = limits(3, 1000).set("REDIS_URL", format!("redis://{CLOSED_ADDR}"));
    let app = TestApp::spawn_with(cfg).await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    for left in [2, 1, 0] {
        let r = app.get(LIST, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(remaining(&r, "principal"), left, "counted in memory");
    }
    assert_eq!(app.get(LIST, &token).await.status, StatusCode::TOO_MANY_REQUESTS);
}
