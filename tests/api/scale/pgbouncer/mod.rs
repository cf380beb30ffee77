//! The isolation checks through PgBouncer in transaction pooling mode: many
//! client connections share two server connections, so a tenant setting that
//! outlived its transaction would show up in another tenant's work.
//!
//! This file runs PgBouncer (`PgBouncer::start`); `isolation` drives SQL through it
//! directly, `server` a real `tenantry serve` behind it.

mod isolation;
mod server;

use std::{process::Stdio, time::Duration};

use super::{free_port, installed};
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
