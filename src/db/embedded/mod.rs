//! The embedded default database.
//!
//! When no `DATABASE_URL` is configured, the server and the test suite use a private
//! PostgreSQL cluster kept in the project data folder (`.data` by default, which git
//! ignores):
//!
//! ```text
//! <data_dir>/pg.lock        held while a process initialises or starts the cluster
//! <data_dir>/pg/data        the cluster, created once by initdb and never re-initialised
//! <data_dir>/pg/port        the TCP port chosen on first start (54329 unless it is taken)
//! <data_dir>/pg/server.log  the server log
//! <data_dir>/pg/run         the Unix socket folder (a /tmp folder when this path is too long)
//! ```
//!
//! [`ensure_cluster`] finds the server binaries (installing them with apt-get when
//! running as root on Debian or Ubuntu), runs initdb once, starts the server with
//! pg_ctl and returns a superuser URL. A running cluster is simply reused: the server
//! outlives the process that started it, so later runs connect at once. As root, the
//! cluster belongs to the `postgres` user, because PostgreSQL refuses to run as root.
//! [`ensure_database`] then creates a database on it.
//!
//! Authentication is `trust` and the server listens on 127.0.0.1 only: this is a
//! development and test database, not a production one. It keeps running after
//! `serve` or `cargo test` exits; `tenantry db status` shows it and `tenantry db
//! stop` stops it ([`control`]).

use std::{
    ffi::OsStr,
    fs, io,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    str::FromStr as _,
    time::Duration,
};

use anyhow::{Context as _, Result, bail, ensure};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, postgres::PgConnectOptions};
use tokio::process::Command;

use self::{
    binaries::{is_root, server_binaries},
    lock::LockFile,
    server::{
        Probe, Runner, init_cluster, pick_port, port_is_free, postmaster_running, probe, read_pid, run, start_server,
        succeeds, wait_until_ready,
    },
};

mod binaries;
mod control;
mod lock;
mod server;
#[cfg(test)]
mod tests;

pub use control::{ClusterStatus, cluster_status, stop_cluster};

/// The port a new cluster listens on unless it is taken.
const DEFAULT_PORT: u16 = 54329;
/// The programs a PostgreSQL bin folder must hold for us to use it.
const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// The superuser role of the cluster, and the OS user that owns it when we run as root.
const POSTGRES_USER: &str = "postgres";
const INSTALL_HINT: &str = "install PostgreSQL server binaries: `sudo apt-get install postgresql` \
     (Debian/Ubuntu) or `brew install postgresql@16` (macOS), or set DATABASE_URL";
/// How long to wait for another process that initialises or starts the cluster
/// (long enough for an apt-get install).
const LOCK_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a lock file may stay empty (its owner is writing its pid) before it counts as stale.
const EMPTY_LOCK_GRACE: Duration = Duration::from_secs(10);
/// How long to wait for a postmaster that is already running to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest Unix socket path: `sun_path` holds 108 bytes including the final NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Ensures the private cluster in `<data_dir>/pg` is initialised and running, and
/// returns its superuser URL, `postgres://postgres@127.0.0.1:<port>/postgres`.
///
/// Reusing a running cluster takes one connection. Otherwise this installs the server
/// binaries if it must (root with apt-get only), runs initdb on first use and starts
/// the server, printing one line to stderr. Several processes may call it at once:
/// the slow path runs under a lock file in `data_dir`.
pub async fn ensure_cluster(data_dir: &Path) -> Result<String> {
    ensure_cluster_on(data_dir, DEFAULT_PORT).await
}

/// Creates database `name` on the cluster at `url` (a superuser URL) unless it exists,
/// and returns the same URL pointing at that database.
pub async fn ensure_database(url: &str, name: &str) -> Result<String> {
    ensure!(
        !name.is_empty() && name.len() <= 63 && !name.contains('\0'),
        "invalid database name {name:?}: PostgreSQL names are 1 to 63 bytes long"
    );
    let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .context("could not connect to PostgreSQL to create a database")?;
    if !database_exists(&mut conn, name).await? {
        let create = format!("CREATE DATABASE {}", quote_ident(name));
        if let Err(err) = sqlx::raw_sql(AssertSqlSafe(create)).execute(&mut conn).await {
            // Another process may have created it in the meantime.
            if !database_exists(&mut conn, name).await? {
                return Err(err).with_context(|| format!("could not create database {name:?}"));
            }
        }
    }
    conn.close().await.ok();
    with_database(url, name)
}

async fn database_exists(conn: &mut PgConnection, name: &str) -> Result<bool> {
    let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .context("could not list databases")?;
    Ok(exists)
}

/// `url` with its path replaced by database `name`.
fn with_database(url: &str, name: &str) -> Result<String> {
    let mut url = url::Url::parse(url).context("invalid PostgreSQL URL")?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("invalid PostgreSQL URL: it has no path"))?
        .clear()
        .push(name);
    Ok(url.into())
}

/// Quotes an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// [`ensure_cluster`] with the port a new cluster should prefer (0: any free port).
async fn ensure_cluster_on(data_dir: &Path, preferred_port: u16) -> Result<String> {
    let layout = Layout::new(data_dir)?;
    // The common case, a running cluster, needs no lock.
    if let Some(port) = layout.read_port() {
        if probe(port, &layout.data).await == Probe::Ours {
            return Ok(superuser_url(port));
        }
    }
    let _lock = LockFile::acquire(&layout.lock_file).await?;
    let port = start_locked(&layout, preferred_port).await?;
    Ok(superuser_url(port))
}

fn superuser_url(port: u16) -> String {
    format!("postgres://{POSTGRES_USER}@127.0.0.1:{port}/postgres")
}

/// Initialises and starts the cluster; the caller holds the lock. Returns the port.
async fn start_locked(layout: &Layout, preferred_port: u16) -> Result<u16> {
    // Another process may have started it while we waited for the lock.
    let recorded_port = layout.read_port();
    if let Some(port) = recorded_port {
        if probe(port, &layout.data).await == Probe::Ours {
            return Ok(port);
        }
    }

    let root = is_root().await;
    let cluster_version = layout.cluster_version()?;
    let bin = server_binaries(cluster_version.as_deref(), root).await?;
    let runner = Runner::new(root).await?;
    layout.prepare(&runner).await?;

    let initialised = cluster_version.is_none();
    if initialised {
        init_cluster(layout, &bin, &runner).await?;
    }

    let pid_file = layout.data.join("postmaster.pid");
    if let Some(pid) = read_pid(&pid_file) {
        if postmaster_running(pid) {
            // Starting up, recovering or shutting down: wait for it rather than fight it.
            let Some(port) = recorded_port else {
                bail!(
                    "PostgreSQL (pid {pid}) runs on {} but {} is missing: stop it with `pg_ctl -D {} stop`",
                    layout.data.display(),
                    layout.port_file.display(),
                    layout.data.display()
                );
            };
            return wait_until_ready(port, layout).await.map(|()| port);
        }
        fs::remove_file(&pid_file).with_context(|| format!("could not remove the stale {}", pid_file.display()))?;
    }

    let port = match recorded_port {
        Some(port) if port_is_free(port) => port,
        Some(taken) => {
            let port = pick_port(0)?;
            eprintln!("tenantry: port {taken} is taken; the embedded PostgreSQL moves to port {port}");
            port
        }
        None => pick_port(preferred_port)?,
    };
    layout.write_port(port)?;
    start_server(layout, &bin, &runner, port).await?;

    let action = if initialised {
        "initialised and started"
    } else {
        "started"
    };
    eprintln!(
        "tenantry: {action} embedded PostgreSQL {} on 127.0.0.1:{port} (data in {})",
        bin.major,
        layout.shown.display()
    );
    Ok(port)
}

/// Where the cluster's files live.
struct Layout {
    /// `<data_dir>/pg` as the caller spelled it, for messages.
    shown: PathBuf,
    /// `data_dir`, absolute.
    root: PathBuf,
    /// `<data_dir>/pg`, absolute.
    pg: PathBuf,
    data: PathBuf,
    port_file: PathBuf,
    log_file: PathBuf,
    lock_file: PathBuf,
}

impl Layout {
    fn new(data_dir: &Path) -> Result<Self> {
        fs::create_dir_all(data_dir)
            .with_context(|| format!("could not create the data folder {}", data_dir.display()))?;
        let root = fs::canonicalize(data_dir).with_context(|| format!("could not resolve {}", data_dir.display()))?;
        let pg = root.join("pg");
        Ok(Self {
            shown: data_dir.join("pg"),
            data: pg.join("data"),
            port_file: pg.join("port"),
            log_file: pg.join("server.log"),
            lock_file: root.join("pg.lock"),
            root,
            pg,
        })
    }

    /// The recorded port; none if the file is missing or unreadable.
    fn read_port(&self) -> Option<u16> {
        fs::read_to_string(&self.port_file).ok()?.trim().parse().ok()
    }

    /// Records the port; readers never see a half-written file.
    fn write_port(&self, port: u16) -> Result<()> {
        let tmp = self.pg.join("port.tmp");
        fs::write(&tmp, format!("{port}\n"))
            .and_then(|()| fs::rename(&tmp, &self.port_file))
            .with_context(|| format!("could not write {}", self.port_file.display()))
    }

    /// The major version the cluster was created with, if it exists.
    fn cluster_version(&self) -> Result<Option<String>> {
        match fs::read_to_string(self.data.join("PG_VERSION")) {
            Ok(text) => Ok(Some(text.trim().to_owned())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("could not read the version of {}", self.data.display())),
        }
    }

    /// Creates `<data_dir>/pg` and, as root, hands it to the `postgres` user.
    async fn prepare(&self, runner: &Runner) -> Result<()> {
        fs::create_dir_all(&self.pg).with_context(|| format!("could not create {}", self.pg.display()))?;
        if !runner.is_root() {
            return Ok(());
        }
        let mode = fs::metadata(&self.root)?.permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(&self.root, fs::Permissions::from_mode(mode | 0o001))
                .with_context(|| format!("could not make {} traversable", self.root.display()))?;
        }
        chown_to_postgres(&self.pg).await?;
        let reachable =
            succeeds(&mut runner.command(Path::new("test"), [OsStr::new("-w"), self.pg.as_os_str()], &self.root)).await;
        ensure!(
            reachable,
            "the `{POSTGRES_USER}` user cannot reach {}: make the folders above it traversable \
             (chmod o+x), or set DATABASE_URL",
            self.pg.display()
        );
        Ok(())
    }

    /// The Unix socket folder, created and owned by the server's user. No server of
    /// this cluster runs when it is called, so sockets and socket lock files in it are
    /// leftovers of one that died, which could stop the new one from starting.
    async fn fresh_socket_dir(&self, runner: &Runner) -> Result<PathBuf> {
        let dir = socket_dir_for(&self.pg);
        fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
        for entry in fs::read_dir(&dir)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".s.PGSQL.") {
                fs::remove_file(entry.path())
                    .with_context(|| format!("could not remove {}", entry.path().display()))?;
            }
        }
        if !dir.starts_with(&self.pg) {
            // A folder in /tmp: nobody else's business.
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        if runner.is_root() {
            chown_to_postgres(&dir).await?;
        }
        Ok(dir)
    }
}

/// `<pg>/run` when a socket path in it fits in `sun_path`, else a folder in /tmp
/// named after `pg`.
fn socket_dir_for(pg: &Path) -> PathBuf {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};

    let dir = pg.join("run");
    if dir.as_os_str().len() + "/.s.PGSQL.65535".len() <= MAX_SOCKET_PATH {
        return dir;
    }
    let mut hasher = DefaultHasher::new();
    pg.hash(&mut hasher);
    std::env::temp_dir().join(format!("tenantry-pg-{:016x}", hasher.finish()))
}

async fn chown_to_postgres(path: &Path) -> Result<()> {
    let mut chown = Command::new("chown");
    chown
        .arg("-R")
        .arg(format!("{POSTGRES_USER}:{POSTGRES_USER}"))
        .arg(path);
    run(chown, "chown").await.map(drop)
}
