//! Rate limits shared through Redis by two app instances on one database, and
//! the fallback to memory when Redis is down.

use std::{collections::HashMap, net::SocketAddr};

use reqwest::StatusCode;
use tenantry::{app::AppState, config::Config, db::Db};

use crate::{
    helpers::*,
    support::{CLOSED_ADDR, Redis},
};

/// Another server over `app`'s database with its own state (its own in-memory
/// limiter), as a second instance behind a load balancer would be.
async fn second_instance(app: &TestApp, overrides: &[(&str, String)]) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut vars: HashMap<String, String> = [
        ("ENVIRONMENT", "test"),
        ("SECRET_KEY", "test-secret-key-0123456789abcdef0123456789"),
        ("EMAIL_PROVIDER", "log"),
        ("EMAIL_WORKER", "false"),
        ("RATE_LIMIT_ACCOUNT_PER_MINUTE", "10000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.insert("DATABASE_URL".into(), app.db.url.clone());
    vars.insert("BASE_URL".into(), app.base.clone());
    vars.insert("STORAGE_PATH".into(), app.storage_dir.path().display().to_string());
    vars.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let config = Config::from_map(vars).unwrap();
    let state = AppState::new(config, Db::connect(&app.db.url, 5).await.unwrap())
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

async fn login_at(app: &TestApp, base: &str, email: &str) -> StatusCode {
    app.client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn two_instances_share_one_budget_through_redis() {
    let redis = Redis::start().await.expect("redis-server installed or Redis on 6379");
    let limits = [
        ("REDIS_URL", redis.url.clone()),
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "4".to_string()),
    ];
    let mut cfg = TestConfig::default();
    for (k, v) in &limits {
        cfg = cfg.set(k, v);
    }
    let app = TestApp::spawn_with(cfg).await;
    let (other, server) = second_instance(&app, &limits).await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user");
    assert_eq!(login_at(&app, &app.base, email).await, StatusCode::OK);
    assert_eq!(login_at(&app, &other, email).await, StatusCode::OK);
    assert_eq!(login_at(&app, &app.base, email).await, StatusCode::OK);
    assert_eq!(login_at(&app, &other, email).await, StatusCode::OK);
    // Four spent across both instances: each refuses now.
    assert_eq!(login_at(&app, &app.base, email).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_at(&app, &other, email).await, StatusCode::TOO_MANY_REQUESTS);
    server.abort();
    let health = app.public_json("/health/detailed").await;
    assert_eq!(health["checks"]["redis"]["status"], "ok", "{health}");
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_memory() {
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("REDIS_URL", format!("redis://{CLOSED_ADDR}"))
            .set("RATE_LIMIT_LOGIN_PER_MINUTE", 2),
    )
    .await;
    let t = app.seed_tenant("acme").await;
    assert_eq!(login_at(&app, &app.base, t.email("user")).await, StatusCode::OK);
    assert_eq!(login_at(&app, &app.base, t.email("user")).await, StatusCode::OK);
    assert_eq!(
        login_at(&app, &app.base, t.email("user")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let health = app.public_json("/health/detailed").await;
    assert_eq!(health["checks"]["redis"]["status"], "degraded", "{health}");
}
