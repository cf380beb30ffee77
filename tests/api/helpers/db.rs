//! The test cluster (DATABASE_URL, or the embedded one), its migrated template,
//! and one fresh database per test.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, Executor, PgConnection};
use tenantry::db::{Db, MIGRATOR, embedded};
use tokio::sync::OnceCell;

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
pub(super) fn through_test_pooler(url: String) -> String {
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
