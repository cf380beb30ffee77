//! Production start-up refusals, through the real binary: each unsafe setting
//! stops `tenantry serve` with a non-zero exit and exactly one line on stderr
//! naming the variable, before anything is bound. A safe production
//! configuration starts (with HSTS on by default), and a development start-up
//! names every unsafe default it uses.

use std::{process::Stdio, time::Duration};

use reqwest::StatusCode;

use crate::{helpers::TestDb, scale::Instance, support::free_port};

const SECRET_KEY: &str = "prod-secret-key-0123456789abcdef0123456789";
const ENCRYPTION_KEY: &str = "prod-encryption-key-0123456789abcdef012345";

/// A safe production configuration; no PostgreSQL answers on port 1, so a
/// configuration that wrongly passed would fail later with another message.
fn production() -> Vec<(&'static str, String)> {
    [
        ("ENVIRONMENT", "production"),
        ("DATABASE_URL", "postgres://tenantry@127.0.0.1:1/tenantry"),
        ("SECRET_KEY", SECRET_KEY),
        ("ENCRYPTION_KEY", ENCRYPTION_KEY),
        ("EMAIL_PROVIDER", "smtp"),
        ("SMTP_HOST", "127.0.0.1"),
        ("BASE_URL", "https://api.example.test"),
        ("FRONTEND_URL", "https://app.example.test"),
        ("LOG_FORMAT", "json"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// `production()` with `changes` applied (`None` unsets the variable).
fn with(changes: &[(&'static str, Option<&str>)]) -> Vec<(&'static str, String)> {
    let mut env = production();
    for (k, v) in changes {
        env.retain(|(key, _)| key != k);
        if let Some(v) = v {
            env.push((k, v.to_string()));
        }
    }
    env
}

/// Runs `tenantry serve` with exactly `env` (plus PATH), in an empty directory
/// (no `.env` is read); returns (exit code, stderr).
async fn serve(env: &[(&'static str, String)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("TENANTRY_DATA_DIR", dir.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the tenantry binary");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("a refused start-up exits at once")
        .unwrap();
    // Nothing was bound: the port is still free.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Asserts that `env` is refused with one stderr line naming `var`.
async fn refused(env: &[(&'static str, String)], var: &str) {
    let (code, stderr) = serve(env).await;
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}, stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line naming {var}:\n{stderr}");
    assert!(
        lines[0].contains(&format!("{var}:")),
        "the line must name {var}: {}",
        lines[0]
    );
    assert!(!lines[0].contains(SECRET_KEY) && !lines[0].contains(ENCRYPTION_KEY));
}

#[tokio::test]
async fn production_without_database_url_refuses_the_embedded_cluster() {
    refused(&with(&[("DATABASE_URL", None)]), "DATABASE_URL").await;
}

#[tokio::test]
async fn production_refuses_missing_short_or_equal_keys() {
    refused(&with(&[("SECRET_KEY", None)]), "SECRET_KEY").await;
    refused(&with(&[("SECRET_KEY", Some("short-secret"))]), "SECRET_KEY").await;
    refused(&with(&[("ENCRYPTION_KEY", None)]), "ENCRYPTION_KEY").await;
    refused(&with(&[("ENCRYPTION_KEY", Some("short-key"))]), "ENCRYPTION_KEY").await;
    refused(&with(&[("ENCRYPTION_KEY", Some(SECRET_KEY))]), "ENCRYPTION_KEY").await;
}

#[tokio::test]
async fn production_refuses_log_email_and_ses_without_sns_topics() {
    refused(&with(&[("EMAIL_PROVIDER", Some("log"))]), "EMAIL_PROVIDER").await;
    refused(&with(&[("EMAIL_PROVIDER", None)]), "EMAIL_PROVIDER").await;
    refused(&with(&[("EMAIL_PROVIDER", Some("ses"))]), "SNS_TOPIC_ARNS").await;
}

#[tokio::test]
async fn production_refuses_urls_that_are_not_https() {
    refused(&with(&[("BASE_URL", Some("http://api.example.test"))]), "BASE_URL").await;
    refused(&with(&[("BASE_URL", None)]), "BASE_URL").await;
    refused(
        &with(&[("FRONTEND_URL", Some("http://app.example.test"))]),
        "FRONTEND_URL",
    )
    .await;
}

/// The environment of a real start-up over a test database.
fn env_over(db: &TestDb, vars: &[(&'static str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    env.retain(|(k, _)| k != "DATABASE_URL");
    env.push(("DATABASE_URL".into(), db.url.clone()));
    env.push(("EMAIL_WORKER".into(), "false".into()));
    env
}

#[tokio::test]
async fn a_safe_production_configuration_serves_with_hsts_on_by_default() {
    let db = TestDb::new().await;
    let mut prod = Instance::start("production", &env_over(&db, &production()), &["serve"]).await;
    let r = reqwest::get(prod.url("/health")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=63072000; includeSubDomains")
    );
    assert!(!prod.log().contains("WARNING"), "{}", prod.log());
    prod.sigterm();
    prod.wait_exit(Duration::from_secs(30)).await;

    // HSTS=false still turns it off.
    let off = with(&[("HSTS", Some("false"))]);
    let instance = Instance::start("production-no-hsts", &env_over(&db, &off), &["serve"]).await;
    let r = reqwest::get(instance.url("/health")).await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn development_names_each_unsafe_default_it_uses() {
    let db = TestDb::new().await;
    let dev = [("ENVIRONMENT", "development".to_string())];
    let instance = Instance::start("development", &env_over(&db, &dev), &["serve"]).await;
    let r = reqwest::get(instance.url("/health")).await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
    let log = std::fs::read_to_string(instance.log_path()).unwrap();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARNING")).collect();
    for var in [
        "SECRET_KEY",
        "ENCRYPTION_KEY",
        "EMAIL_PROVIDER",
        "BASE_URL",
        "FRONTEND_URL",
    ] {
        assert_eq!(
            warnings.iter().filter(|l| l.contains(&format!("): {var} "))).count(),
            1,
            "one line for {var}:\n{log}"
        );
    }
    assert!(warnings.iter().any(|l| l.contains("NEVER SENT")), "{log}");
    // DATABASE_URL is set here, so the embedded cluster is not mentioned.
    assert!(!log.contains("DATABASE_URL is unset"), "{log}");
}
