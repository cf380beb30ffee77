//! [`TestApp`]: the real router served on a loopback port over its own database.

use std::{collections::HashMap, net::SocketAddr};

use tenantry::{app::AppState, config::Config, db::Db};

use super::{
    SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD,
    db::{TestDb, through_test_pooler},
};

/// A running tenantry on a loopback port over its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub db: TestDb,
    pub storage_dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Overrides for the test configuration.
#[derive(Default, Clone)]
pub struct TestConfig(pub HashMap<String, String>);

impl TestConfig {
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.0.insert(key.to_string(), value.to_string());
        self
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestConfig::default()).await
    }

    pub async fn spawn_with(overrides: TestConfig) -> Self {
        let db = TestDb::new().await;
        Self::spawn_on(db, overrides).await
    }

    /// Serves an app over an existing test database (e.g. a second instance).
    pub async fn spawn_on(db: TestDb, overrides: TestConfig) -> Self {
        let storage_dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut vars: HashMap<String, String> = [
            ("ENVIRONMENT", "test"),
            ("SECRET_KEY", "test-secret-key-0123456789abcdef0123456789"),
            ("EMAIL_PROVIDER", "log"),
            ("EMAIL_WORKER", "false"),
            ("FRONTEND_URL", "http://app.tenantry.test"),
            ("APP_NAME", "Tenantry Test"),
            ("RATE_LIMIT_LOGIN_PER_MINUTE", "10000"),
            ("RATE_LIMIT_ACCOUNT_PER_MINUTE", "10000"),
            // Far above any test's pace; tests/api/production/rate_limits.rs sets its own.
            ("RATE_LIMIT_API_PER_MINUTE", "100000"),
            ("RATE_LIMIT_TENANT_PER_MINUTE", "1000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.insert("DATABASE_URL".into(), db.url.clone());
        vars.insert("BASE_URL".into(), base.clone());
        vars.insert("STORAGE_PATH".into(), storage_dir.path().display().to_string());
        vars.extend(overrides.0);
        let config = Config::from_map(vars).expect("test config");
        let url = config
            .database_url
            .as_ref()
            .map(|u| u.expose().to_string())
            .unwrap_or_else(|| db.url.clone());
        let url = if url == db.url { through_test_pooler(url) } else { url };
        let pool = Db::connect(&url, 10).await.unwrap();
        tenantry::bootstrap::ensure_super_admin(&pool, SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD)
            .await
            .unwrap();
        let state = AppState::new(config, pool).await.unwrap();
        let app = tenantry::router::router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            addr,
            base,
            client,
            state,
            db,
            storage_dir,
            server,
        }
    }
}
