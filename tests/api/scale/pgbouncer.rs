//! The isolation checks through PgBouncer in transaction pooling mode: many
//! client connections share two server connections, so a tenant setting that
//! outlived its transaction would show up in another tenant's work.

use std::{
    collections::{BTreeSet, HashMap},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use tenantry::db::{Db, TenantId};
use uuid::Uuid;

use super::{Instance, free_port, installed, login};
use crate::helpers::*;

/// Server connections PgBouncer keeps per database: far fewer than the clients.
const POOL_SIZE: usize = 2;

/// A `pgbouncer` process in transaction mode in front of one test database,
/// exposing it twice: `tenantry` (the documented setup, with `connect_query`
/// setting the runtime role on every server connection) and `tenantry_plain`
/// (no connect_query: only the app's per-transaction settings protect it).
struct PgBouncer {
    port: u16,
    /// Whether this version proxies protocol-level prepared statements (≥ 1.21).
    prepared_statements: bool,
    child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl PgBouncer {
    async fn start(db: &TestDb) -> Option<Self> {
        if !installed("pgbouncer") {
            eprintln!("SKIPPED: pgbouncer is not installed (`apt-get install -y pgbouncer`)");
            return None;
        }
        let version = std::process::Command::new("pgbouncer")
            .arg("--version")
            .output()
            .unwrap();
        let version = String::from_utf8_lossy(&version.stdout).to_string();
        let (major, minor) = parse_version(&version).expect("pgbouncer --version");
        let prepared_statements = (major, minor) >= (1, 21);

        let target = url::Url::parse(&db.url).unwrap();
        let (host, pg_port, user) = (
            target.host_str().unwrap(),
            target.port().unwrap_or(5432),
            target.username(),
        );
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let connection = format!("host={host} port={pg_port} dbname={} user={user}", db.name);
        let mut ini = format!(
            "[databases]\n\
             tenantry = {connection} connect_query='SET ROLE tenantry_app'\n\
             tenantry_plain = {connection}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {auth}\n\
             pool_mode = transaction\n\
             default_pool_size = {POOL_SIZE}\n\
             min_pool_size = 0\n\
             reserve_pool_size = 0\n\
             max_client_conn = 500\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {log}\n\
             pidfile = {pid}\n",
            auth = path.join("users.txt").display(),
            log = path.join("pgbouncer.log").display(),
            pid = path.join("pgbouncer.pid").display(),
        );
        if prepared_statements {
            ini.push_str("max_prepared_statements = 100\n");
        }
        std::fs::write(path.join("pgbouncer.ini"), ini).unwrap();
        std::fs::write(path.join("users.txt"), format!("\"{user}\" \"\"\n")).unwrap();

        let mut cmd = tokio::process::Command::new("pgbouncer");
        cmd.arg(path.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        // PgBouncer refuses to run as root: drop to the postgres user.
        if current_uid() == 0 {
            let (uid, gid) = system_user("postgres").expect("a postgres system user to run pgbouncer as");
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
            for f in ["pgbouncer.ini", "users.txt"] {
                std::os::unix::fs::chown(path.join(f), Some(uid), Some(gid)).unwrap();
            }
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().expect("start pgbouncer");
        let bouncer = PgBouncer {
            port,
            prepared_statements,
            child,
            dir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                eprintln!(
                    "pgbouncer {} on port {port}, transaction pooling, {POOL_SIZE} server connections",
                    version.lines().next().unwrap_or("").trim()
                );
                return Some(bouncer);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pgbouncer did not listen:\n{}", bouncer.log());
    }

    /// A client URL for `database` (an alias above).
    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let v = text.split_whitespace().nth(1)?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn current_uid() -> u32 {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// (uid, gid) of a user from /etc/passwd.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.split(':').next() == Some(name))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
}

async fn insert_project(app: &TestApp, tenant: Uuid, name: &str) {
    let mut su = app.db.superuser().await;
    sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, $3)")
        .bind(tenant)
        .bind(Uuid::new_v4())
        .bind(name)
        .execute(&mut su)
        .await
        .unwrap();
}

/// What one transaction saw.
#[derive(Debug)]
struct Seen {
    backend_pid: i32,
    user: String,
    tenant_setting: Option<String>,
    visible: i64,
    foreign: i64,
}

/// Runs the probe queries inside an open transaction. They are unnamed
/// (`persistent(false)`) so that they also run through PgBouncer < 1.21, which
/// cannot follow named prepared statements across server connections; the
/// transaction helpers under test (`tenant_tx`, `anonymous_tx`) use the simple
/// protocol and need no prepared statement at all.
async fn probe(conn: &mut sqlx::PgConnection, tenant: Option<Uuid>) -> Seen {
    let (backend_pid, user, tenant_setting): (i32, String, Option<String>) = sqlx::query_as(
        "SELECT pg_backend_pid(), current_user::text, NULLIF(current_setting('app.tenant_id', true), '')",
    )
    .persistent(false)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let foreign: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id IS DISTINCT FROM $1")
        .persistent(false)
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    Seen {
        backend_pid,
        user,
        tenant_setting,
        visible,
        foreign,
    }
}

/// The foundation's RLS properties, through PgBouncer, under concurrency: 32
/// clients × 15 interleaved transactions (tenant A, tenant B, no tenant, a
/// failing tenant transaction, and plain transactions where PgBouncer's
/// `connect_query` sets the role) over two server connections. Every transaction
/// runs as `tenantry_app` and sees exactly its own tenant's rows; a committed
/// insert lands in its own tenant; nothing set by one leaks into the next.
#[tokio::test]
async fn rls_isolation_holds_through_pgbouncer_transaction_pooling() {
    let app = TestApp::spawn().await;
    let Some(bouncer) = PgBouncer::start(&app.db).await else {
        return;
    };
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    for _ in 0..3 {
        insert_project(&app, a.id, "a-seed").await;
    }
    insert_project(&app, b.id, "b-seed").await;

    for alias in ["tenantry", "tenantry_plain"] {
        let db = Db::connect(&bouncer.url(alias), 32).await.unwrap();
        let pids = Arc::new(Mutex::new(BTreeSet::new()));
        let inserted = Arc::new(Mutex::new(HashMap::<Uuid, i64>::new()));
        let mut tasks = Vec::new();
        for client in 0..32 {
            let (db, pids, inserted) = (db.clone(), pids.clone(), inserted.clone());
            let (a_id, b_id) = (a.id, b.id);
            tasks.push(tokio::spawn(async move {
                for round in 0..15 {
                    let tenant = match (client + round) % 4 {
                        0 | 3 => Some(a_id),
                        1 => Some(b_id),
                        _ => None,
                    };
                    match tenant {
                        Some(t) => {
                            let mut tx = db.tenant_tx(TenantId::from_trusted(t)).await.unwrap();
                            let seen = probe(&mut tx, Some(t)).await;
                            assert_eq!(seen.user, "tenantry_app", "{alias}: {seen:?}");
                            assert_eq!(seen.tenant_setting, Some(t.to_string()), "{alias}: {seen:?}");
                            assert_eq!(seen.foreign, 0, "{alias}: another tenant's rows visible: {seen:?}");
                            assert!(seen.visible >= 1, "{alias}: own rows hidden: {seen:?}");
                            pids.lock().unwrap().insert(seen.backend_pid);
                            if (client + round) % 4 == 3 {
                                // A transaction that fails half-way: its settings must die with it.
                                let err =
                                    sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, 'x')")
                                        .persistent(false)
                                        .bind(b_id)
                                        .bind(Uuid::new_v4())
                                        .execute(&mut *tx)
                                        .await
                                        .unwrap_err();
                                assert!(err.to_string().contains("row-level security"), "{err}");
                                drop(tx);
                            } else {
                                sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, 'concurrent')")
                                    .persistent(false)
                                    .bind(t)
                                    .bind(Uuid::new_v4())
                                    .execute(&mut *tx)
                                    .await
                                    .unwrap();
                                tx.commit().await.unwrap();
                                *inserted.lock().unwrap().entry(t).or_default() += 1;
                            }
                        }
                        None => {
                            // The anonymous helper; and, where PgBouncer sets the role on
                            // every server connection, a plain transaction as well (the
                            // foundation test's "no tenant set" case).
                            let raw = alias == "tenantry" && round % 2 == 0;
                            let mut tx = if raw {
                                db.pool().begin().await.unwrap()
                            } else {
                                db.anonymous_tx().await.unwrap()
                            };
                            let seen = probe(&mut tx, None).await;
                            assert_eq!(seen.user, "tenantry_app", "{alias}: {seen:?}");
                            assert_eq!(seen.tenant_setting, None, "{alias}: a tenant leaked in: {seen:?}");
                            assert_eq!(seen.visible, 0, "{alias}: rows visible without a tenant: {seen:?}");
                            pids.lock().unwrap().insert(seen.backend_pid);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await
                .unwrap_or_else(|e| panic!("{e}\npgbouncer log:\n{}", bouncer.log()));
        }

        // The 480 transactions really shared a handful of server connections.
        let pids = pids.lock().unwrap().clone();
        assert!(
            pids.len() <= POOL_SIZE,
            "{alias}: expected ≤ {POOL_SIZE} server connections, saw {pids:?}"
        );

        // Each committed insert landed in its own tenant, none elsewhere.
        let mut su = app.db.superuser().await;
        for t in [a.id, b.id] {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1 AND name = 'concurrent'")
                    .bind(t)
                    .fetch_one(&mut su)
                    .await
                    .unwrap();
            let expected = inserted.lock().unwrap().get(&t).copied().unwrap_or(0);
            assert_eq!(n, expected, "{alias}: tenant {t}");
        }
        sqlx::query("DELETE FROM projects WHERE name = 'concurrent'")
            .execute(&mut su)
            .await
            .unwrap();
        eprintln!(
            "{alias}: 480 interleaved transactions over {} server connection(s): no leak",
            pids.len()
        );

        db.pool().close().await;
    }
}

/// The real server through PgBouncer: two tenants signed in concurrently see
/// only their own users, and another tenant's user is a 404.
#[tokio::test]
async fn server_behind_pgbouncer_keeps_tenants_apart() {
    let app = TestApp::spawn().await;
    let Some(bouncer) = PgBouncer::start(&app.db).await else {
        return;
    };
    // sqlx names its prepared statements (`sqlx_s_N`) even with the statement
    // cache off; PgBouncer < 1.21 leaves them on the server connection for other
    // clients ("prepared statement sqlx_s_1 already exists"). There the server
    // runs in its transaction-pooler mode (statement cache off in DATABASE_URL:
    // each transaction deallocates what earlier ones left, no session state),
    // against the alias without connect_query.
    let url = if bouncer.prepared_statements {
        bouncer.url("tenantry")
    } else {
        format!("{}?statement-cache-capacity=0", bouncer.url("tenantry_plain"))
    };
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    let env = Instance::env(&url, &[]);
    // Migrations take a session-level advisory lock: never through a transaction
    // pooler (the database is already migrated; production runs `migrate` directly).
    let server = Instance::start("via-pgbouncer", &env, &["serve", "--no-migrate"]).await;
    let client = reqwest::Client::new();

    let token_a = login(&client, &server.base, a.email("tenant_admin"), &a.slug).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let token_b = login(&client, &server.base, b.email("tenant_admin"), &b.slug).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut tasks = Vec::new();
    for i in 0..24 {
        let (client, base) = (client.clone(), server.base.clone());
        let (token, own, other_user, domain) = if i % 2 == 0 {
            (token_a.clone(), a.slug.clone(), b.user_id("viewer"), "@alpha.test")
        } else {
            (token_b.clone(), b.slug.clone(), a.user_id("viewer"), "@bravo.test")
        };
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let list = client
                    .get(format!("{base}/api/v1/users?page_size=100"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(list.status(), StatusCode::OK, "{own}");
                let body: serde_json::Value = list.json().await.unwrap();
                let emails: Vec<&str> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["email"].as_str().unwrap())
                    .collect();
                assert_eq!(emails.len(), 4, "{own} sees {emails:?}");
                assert!(
                    emails.iter().all(|e| e.ends_with(domain)),
                    "{own} sees another tenant: {emails:?}"
                );
                let r = client
                    .get(format!("{base}/api/v1/users/{other_user}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::NOT_FOUND, "{own} reached another tenant's user");
                let ready = client.get(format!("{base}/ready")).send().await.unwrap();
                assert_eq!(ready.status(), StatusCode::OK, "/ready through pgbouncer");
            }
        }));
    }
    for t in tasks {
        t.await
            .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}\npgbouncer log:\n{}", server.log(), bouncer.log()));
    }
}
