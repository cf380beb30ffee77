//! The test harness: a real PostgreSQL (DATABASE_URL, or the embedded cluster),
//! one fresh database per test cloned from a migrated template, and the real
//! router served on a loopback port.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::atomic::{AtomicUsize, Ordering},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tenantry::{
    app::AppState,
    config::Config,
    db::{Db, MIGRATOR, embedded},
};
use tokio::sync::OnceCell;
use uuid::Uuid;

pub const SUPER_ADMIN_EMAIL: &str = "root@tenantry.test";
pub const SUPER_ADMIN_PASSWORD: &str = "Super-Admin-Pass-2026!";
pub const PASSWORD: &str = "Correct-Horse-Battery-9";

static SERVER: OnceCell<(String, String)> = OnceCell::const_new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The superuser URL of the test cluster and the name of the migrated template.
async fn server() -> &'static (String, String) {
    SERVER
        .get_or_init(|| async {
            let url = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => url,
                _ => {
                    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".data");
                    embedded::ensure_cluster(&dir).await.expect("embedded PostgreSQL")
                }
            };
            let admin_url = with_database(&url, "postgres");
            let checksum: Vec<u8> = MIGRATOR.iter().flat_map(|m| m.checksum.to_vec()).collect();
            let template = format!("tenantry_tpl_{}", &tenantry::crypto::sha256_hex(&checksum)[..16]);
            let mut conn = PgConnection::connect(&admin_url)
                .await
                .expect("connect to test cluster");
            // One process at a time builds the template.
            conn.execute("SELECT pg_advisory_lock(727274)").await.unwrap();
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&template)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if !exists {
                let building = format!("{template}_building");
                conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {building}")))
                    .await
                    .unwrap();
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}")))
                    .await
                    .unwrap();
                Db::migrate(&with_database(&url, &building))
                    .await
                    .expect("migrations apply");
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "ALTER DATABASE {building} RENAME TO {template}"
                )))
                .await
                .unwrap();
            }
            drop_stale_databases(&mut conn).await;
            conn.execute("SELECT pg_advisory_unlock(727274)").await.unwrap();
            (url, template)
        })
        .await
}

/// Test databases are named `tenantry_t_<pid>_<n>`; drop those of dead processes.
async fn drop_stale_databases(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tenantry_t\\_%'")
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }
}

pub fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("valid database url");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// With `TENANTRY_TEST_PGBOUNCER_PORT` set (bench/pgbouncer-tests.sh), the app
/// under test reaches its database through that PgBouncer (transaction mode, a
/// wildcard database entry) in the server's pooler mode; setup and superuser
/// connections stay direct.
fn through_test_pooler(url: String) -> String {
    let Ok(port) = std::env::var("TENANTRY_TEST_PGBOUNCER_PORT") else {
        return url;
    };
    let mut u = url::Url::parse(&url).expect("valid database url");
    u.set_port(Some(port.parse().expect("TENANTRY_TEST_PGBOUNCER_PORT is a port")))
        .expect("a port can be set");
    u.query_pairs_mut().append_pair("statement-cache-capacity", "0");
    u.to_string()
}

/// A fresh database cloned from the migrated template; dropped on `Drop`.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let (url, template) = server().await;
        let name = format!(
            "tenantry_t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin_url = with_database(url, "postgres");
        let mut conn = PgConnection::connect(&admin_url).await.unwrap();
        // CREATE DATABASE ... TEMPLATE needs the template idle; retry briefly on contention.
        for attempt in 0.. {
            match conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} TEMPLATE {template}"
                )))
                .await
            {
                Ok(_) => break,
                Err(e) if attempt < 50 => {
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("creating test database: {e}"),
            }
        }
        TestDb {
            url: with_database(url, &name),
            name,
            admin_url,
        }
    }

    /// A superuser connection to this test's database (bypasses RLS: use for setup only).
    pub async fn superuser(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect(&admin).await {
                    let _ = c
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

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
            // Far above any test's pace; tests/api/ratelimit_api.rs sets its own.
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a JSON request (body optional) with an optional bearer token.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::from(req.send().await.expect("request sent")).await
    }

    /// An unauthenticated JSON document (`/openapi.json`, `/health/detailed`).
    pub async fn public_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The text of an unauthenticated GET (metrics, Swagger UI assets).
    pub async fn public_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Signs in and returns the whole token response.
    pub async fn login(&self, email: &str, password: &str, tenant_slug: Option<&str>) -> Resp {
        let mut body = json!({"email": email, "password": password});
        if let Some(s) = tenant_slug {
            body["tenant_slug"] = json!(s);
        }
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await
    }

    /// An access token, panicking when sign-in fails.
    pub async fn token(&self, email: &str, password: &str, tenant_slug: Option<&str>) -> String {
        let r = self.login(email, password, tenant_slug).await;
        assert_eq!(r.status, StatusCode::OK, "login of {email} failed: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn super_admin_token(&self) -> String {
        self.token(SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD, Some("system"))
            .await
    }

    /// Creates a tenant directly in the database (with its four system roles) and
    /// one user per system role; returns ids and emails. For tests that need data
    /// without going through the tenants API.
    pub async fn seed_tenant(&self, slug: &str) -> SeededTenant {
        let mut c = self.db.superuser().await;
        let tenant_id = Uuid::new_v4();
        sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)")
            .bind(tenant_id)
            .bind(slug)
            .bind(format!("Tenant {slug}"))
            .execute(&mut c)
            .await
            .unwrap();
        let hash = self.state_passwords_hash(PASSWORD).await;
        let mut users = HashMap::new();
        let mut roles = HashMap::new();
        for (role, _) in tenantry::rbac::SYSTEM_ROLES {
            let role_id = Uuid::new_v4();
            sqlx::query("INSERT INTO roles (tenant_id, id, name, is_system) VALUES ($1, $2, $3, true)")
                .bind(tenant_id)
                .bind(role_id)
                .bind(role)
                .execute(&mut c)
                .await
                .unwrap();
            for p in tenantry::rbac::system_role_permissions(role) {
                sqlx::query("INSERT INTO role_permissions (tenant_id, role_id, permission) VALUES ($1, $2, $3)")
                    .bind(tenant_id)
                    .bind(role_id)
                    .bind(p.as_str())
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            let user_id = Uuid::new_v4();
            let email = format!("{role}@{slug}.test");
            sqlx::query(
                "INSERT INTO users (tenant_id, id, email, first_name, last_name, password_hash, email_verified_at) \
                 VALUES ($1, $2, $3, $4, 'Tester', $5, now())",
            )
            .bind(tenant_id)
            .bind(user_id)
            .bind(&email)
            .bind(*role)
            .bind(&hash)
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query("INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ($1, $2, $3)")
                .bind(tenant_id)
                .bind(user_id)
                .bind(role_id)
                .execute(&mut c)
                .await
                .unwrap();
            users.insert(role.to_string(), (user_id, email));
            roles.insert(role.to_string(), role_id);
        }
        SeededTenant {
            id: tenant_id,
            slug: slug.to_string(),
            users,
            roles,
        }
    }

    async fn state_passwords_hash(&self, password: &str) -> String {
        tenantry::auth::password::Passwords::default().hash(password).await
    }
}

/// A tenant made by [`TestApp::seed_tenant`].
pub struct SeededTenant {
    pub id: Uuid,
    pub slug: String,
    /// role name → (user id, email); every password is [`PASSWORD`].
    pub users: HashMap<String, (Uuid, String)>,
    pub roles: HashMap<String, Uuid>,
}

impl SeededTenant {
    pub fn email(&self, role: &str) -> &str {
        &self.users[role].1
    }
    pub fn user_id(&self, role: &str) -> Uuid {
        self.users[role].0
    }
    pub async fn token(&self, app: &TestApp, role: &str) -> String {
        app.token(self.email(role), PASSWORD, Some(&self.slug)).await
    }
}

/// A response with its body parsed as JSON (or `Value::String` when not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 7807 shape and status.
    pub fn assert_problem(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        for field in ["type", "title", "status", "detail", "request_id"] {
            assert!(self.body.get(field).is_some(), "problem lacks `{field}`: {}", self.body);
        }
        assert_eq!(self.body["status"], status.as_u16());
        self
    }
}
