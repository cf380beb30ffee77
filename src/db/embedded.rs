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
//! development and test database, not a production one.

use std::{
    ffi::OsStr,
    fs, io,
    io::Write as _,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr as _,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use sqlx::{
    AssertSqlSafe, Connection as _, PgConnection,
    postgres::{PgConnectOptions, PgSslMode},
};
use tokio::{net::TcpStream, process::Command, time::sleep};

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
        let reachable = runner
            .command(Path::new("test"), [OsStr::new("-w"), self.pg.as_os_str()], &self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|status| status.success());
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

/// A folder with initdb, pg_ctl and postgres of one PostgreSQL version.
#[derive(Debug)]
struct ServerBin {
    dir: PathBuf,
    /// `15`, or `9.6` for old versions: the format of a cluster's PG_VERSION file.
    major: String,
}

/// Finds server binaries, of version `want` if given, installing them if there are none.
async fn server_binaries(want: Option<&str>, root: bool) -> Result<ServerBin> {
    let mut dirs = find_server_bindirs().await;
    if dirs.is_empty() {
        install_postgresql(root).await?;
        dirs = find_server_bindirs().await;
        ensure!(
            !dirs.is_empty(),
            "apt-get installed postgresql but its server binaries were not found; {INSTALL_HINT}"
        );
    }
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(major) = server_major_version(&dir).await else {
            continue;
        };
        if want.is_none_or(|want| want == major) {
            return Ok(ServerBin { dir, major });
        }
        found.push(major);
    }
    match want {
        Some(want) => bail!(
            "the embedded cluster was created by PostgreSQL {want}, but only server binaries of \
             version(s) {} were found: install PostgreSQL {want} (e.g. `apt-get install postgresql-{want}`), \
             or move the data folder aside to start afresh",
            found.join(", ")
        ),
        None => bail!("no working PostgreSQL server binaries were found; {INSTALL_HINT}"),
    }
}

/// The folders holding initdb, pg_ctl and postgres, best first: from PATH (following
/// symlinks to the real folder), then `pg_config --bindir`, then
/// `/usr/lib/postgresql/<version>/bin`, highest version first.
async fn find_server_bindirs() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH");
    let pg_config_bindir = match find_on_path(path.as_deref(), "pg_config") {
        Some(pg_config) => {
            let mut command = Command::new(pg_config);
            command.arg("--bindir");
            run(command, "pg_config")
                .await
                .ok()
                .map(|out| PathBuf::from(out.trim()))
        }
        None => None,
    };
    candidate_bindirs(path.as_deref(), pg_config_bindir, Path::new("/usr/lib/postgresql"))
}

fn candidate_bindirs(path: Option<&OsStr>, pg_config_bindir: Option<PathBuf>, versions_root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut push = |dir: PathBuf| {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    };
    for dir in path.map(std::env::split_paths).into_iter().flatten() {
        for name in SERVER_BINARIES {
            let program = dir.join(name);
            if !is_executable(&program) {
                continue;
            }
            // /usr/local/bin/pg_ctl may link to the real /usr/lib/postgresql/15/bin.
            if let Some(real_dir) = fs::canonicalize(&program)
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf))
            {
                push(real_dir);
            }
            push(dir.clone());
        }
    }
    if let Some(dir) = pg_config_bindir {
        push(dir);
    }
    for dir in versioned_bindirs(versions_root) {
        push(dir);
    }
    dirs.retain(|dir| SERVER_BINARIES.iter().all(|name| is_executable(&dir.join(name))));
    dirs
}

/// `<root>/<version>/bin` for every version folder, highest version first.
fn versioned_bindirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let key = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((key, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn find_on_path(path: Option<&OsStr>, name: &str) -> Option<PathBuf> {
    path.map(std::env::split_paths)
        .into_iter()
        .flatten()
        .map(|dir| dir.join(name))
        .find(|program| is_executable(program))
}

/// A system program, looked up on PATH and in the sbin folders root's PATH may lack.
fn find_system_program(name: &str) -> Option<PathBuf> {
    find_on_path(std::env::var_os("PATH").as_deref(), name).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|program| is_executable(program))
    })
}

/// The major version of the server in `dir`, from `postgres --version`.
async fn server_major_version(dir: &Path) -> Result<String> {
    let mut command = Command::new(dir.join("postgres"));
    command.arg("--version");
    let out = run(command, "postgres --version").await?;
    parse_major_version(&out).with_context(|| format!("unexpected `postgres --version` output: {out}"))
}

/// `postgres (PostgreSQL) 15.20 (Debian …)` → `15`; `9.6.24` → `9.6`.
fn parse_major_version(version_output: &str) -> Option<String> {
    let version = version_output.split("(PostgreSQL)").nth(1)?.split_whitespace().next()?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let first = parts.next().filter(|part| !part.is_empty())?;
    match (first.parse::<u32>().ok()?, parts.next()) {
        (major, Some(minor)) if major < 10 && !minor.is_empty() => Some(format!("{major}.{minor}")),
        (major, _) => Some(major.to_string()),
    }
}

/// Installs PostgreSQL with apt-get when we are root and it exists, else fails with a hint.
async fn install_postgresql(root: bool) -> Result<()> {
    let apt_get = find_system_program("apt-get").filter(|_| root);
    let Some(apt_get) = apt_get else {
        bail!("PostgreSQL server binaries were not found; {INSTALL_HINT}")
    };
    eprintln!("tenantry: PostgreSQL server binaries not found; running `apt-get install -y postgresql`");
    let apt = |args: &[&str]| {
        let mut command = Command::new(&apt_get);
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    let install = ["install", "-y", "-q", "postgresql"];
    if run(apt(&install), "apt-get install postgresql").await.is_err() {
        run(apt(&["update", "-q"]), "apt-get update").await?;
        run(apt(&install), "apt-get install postgresql")
            .await
            .with_context(|| format!("could not install PostgreSQL; {INSTALL_HINT}"))?;
    }
    Ok(())
}

async fn is_root() -> bool {
    let mut id = Command::new("id");
    id.arg("-u");
    run(id, "id -u").await.is_ok_and(|uid| uid.trim() == "0")
}

/// How to run the server programs: directly, or as the `postgres` user when we are
/// root (initdb, pg_ctl and postgres refuse to run as root).
#[derive(Debug)]
enum Runner {
    Direct,
    Runuser(PathBuf),
    Su(PathBuf),
}

impl Runner {
    async fn new(root: bool) -> Result<Self> {
        if !root {
            return Ok(Self::Direct);
        }
        let user_exists = Command::new("id")
            .arg(POSTGRES_USER)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|status| status.success());
        ensure!(
            user_exists,
            "PostgreSQL cannot run as root and there is no `{POSTGRES_USER}` user to run it as: \
             create one (`useradd --system {POSTGRES_USER}`), run as another user, or set DATABASE_URL"
        );
        if let Some(runuser) = find_system_program("runuser") {
            Ok(Self::Runuser(runuser))
        } else if let Some(su) = find_system_program("su") {
            Ok(Self::Su(su))
        } else {
            bail!("running as root, neither runuser nor su is available to run PostgreSQL as `{POSTGRES_USER}`")
        }
    }

    fn is_root(&self) -> bool {
        !matches!(self, Self::Direct)
    }

    /// `program args…` as the server's user, in folder `cwd` (which that user must be
    /// able to enter).
    fn command<'a>(&self, program: &Path, args: impl IntoIterator<Item = &'a OsStr>, cwd: &Path) -> Command {
        let mut command = match self {
            Self::Direct => {
                let mut command = Command::new(program);
                command.args(args);
                command
            }
            Self::Runuser(runuser) => {
                let mut command = Command::new(runuser);
                command.args(["-u", POSTGRES_USER, "--"]).arg(program).args(args);
                command
            }
            Self::Su(su) => {
                let line: Vec<String> = std::iter::once(sh_quote(program.as_os_str()))
                    .chain(args.into_iter().map(sh_quote))
                    .collect();
                let mut command = Command::new(su);
                command.args([POSTGRES_USER, "-s", "/bin/sh", "-c"]).arg(line.join(" "));
                command
            }
        };
        command.current_dir(cwd);
        command
    }
}

/// Quotes a word for `/bin/sh`.
fn sh_quote(word: &OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"))
}

/// Runs initdb into a staging folder renamed into place once complete, so that an
/// interrupted initdb never leaves a half-made cluster behind.
async fn init_cluster(layout: &Layout, bin: &ServerBin, runner: &Runner) -> Result<()> {
    let leftovers = fs::read_dir(&layout.data).map(|mut entries| entries.next().is_some());
    ensure!(
        !leftovers.unwrap_or(false),
        "{} holds files but no PostgreSQL cluster (no PG_VERSION): move it aside to create a \
         new cluster",
        layout.data.display()
    );
    let staging = layout.pg.join("data.init");
    let initdb = bin.dir.join("initdb");
    let initdb_with = |locale: &'static str| {
        let args = [
            OsStr::new("-D"),
            staging.as_os_str(),
            OsStr::new("-A"),
            OsStr::new("trust"),
            OsStr::new("-U"),
            OsStr::new(POSTGRES_USER),
            OsStr::new("-E"),
            OsStr::new("UTF8"),
            OsStr::new(locale),
            OsStr::new("--no-instructions"),
        ];
        remove_dir_if_exists(&staging)?;
        Ok::<_, anyhow::Error>(runner.command(&initdb, args, &layout.pg))
    };
    // C.UTF-8 keeps byte-order collation yet lets upper()/lower() see non-ASCII
    // letters; where that locale is missing, fall back to plain C.
    if run(initdb_with("--locale=C.UTF-8")?, "initdb").await.is_err() {
        run(initdb_with("--no-locale")?, "initdb").await?;
    }
    remove_dir_if_exists(&layout.data)?; // empty, if it exists
    fs::rename(&staging, &layout.data)
        .with_context(|| format!("could not move the new cluster to {}", layout.data.display()))
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("could not remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

async fn start_server(layout: &Layout, bin: &ServerBin, runner: &Runner, port: u16) -> Result<()> {
    let socket_dir = layout.fresh_socket_dir(runner).await?;
    // pg_ctl passes these to the shell that starts postgres.
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=200 \
         -c shared_buffers=128MB -c fsync=on",
        sh_quote(socket_dir.as_os_str())
    );
    let args = [
        OsStr::new("-D"),
        layout.data.as_os_str(),
        OsStr::new("-l"),
        layout.log_file.as_os_str(),
        OsStr::new("-o"),
        OsStr::new(&options),
        OsStr::new("-w"),
        OsStr::new("-t"),
        OsStr::new("60"),
        OsStr::new("start"),
    ];
    let started = run(
        runner.command(&bin.dir.join("pg_ctl"), args, &layout.pg),
        "pg_ctl start",
    )
    .await;
    if let Err(err) = started {
        return Err(err.context(format!(
            "could not start the embedded PostgreSQL; end of {}:\n{}",
            layout.log_file.display(),
            log_tail(&layout.log_file)
        )));
    }
    ensure!(
        probe(port, &layout.data).await == Probe::Ours,
        "the embedded PostgreSQL started but does not answer on 127.0.0.1:{port}; see {}",
        layout.log_file.display()
    );
    Ok(())
}

fn log_tail(path: &Path) -> String {
    fs::read_to_string(path).map_or_else(|err| format!("({err})"), |text| tail(&text, 15))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `command` to completion, returning its stdout, or an error with its stderr.
async fn run(mut command: Command, what: &str) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let output = if stderr.trim().is_empty() { stdout } else { stderr };
        bail!("{what} failed ({}): {}", out.status, tail(&output, 15));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What answers on the cluster's port.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// Our cluster, accepting queries.
    Ours,
    /// Something else, or our cluster not ready for queries yet.
    Other,
    /// Nothing.
    Closed,
}

async fn probe(port: u16, data: &Path) -> Probe {
    let connect = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(("127.0.0.1", port)));
    if !matches!(connect.await, Ok(Ok(_))) {
        return Probe::Closed;
    }
    match tokio::time::timeout(Duration::from_secs(5), data_directory(port)).await {
        Ok(Ok(dir)) if same_file(Path::new(&dir), data) => Probe::Ours,
        _ => Probe::Other,
    }
}

/// The data directory of the server on `port`: proves it is ours and answers queries.
async fn data_directory(port: u16) -> Result<String> {
    let options = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(port)
        .username(POSTGRES_USER)
        .database("postgres")
        .ssl_mode(PgSslMode::Disable)
        .application_name("tenantry-embedded");
    let mut conn = PgConnection::connect_with(&options).await?;
    let dir = sqlx::query_scalar("SELECT current_setting('data_directory')")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok(dir)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

async fn wait_until_ready(port: u16, layout: &Layout) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if probe(port, &layout.data).await == Probe::Ours {
            return Ok(());
        }
        sleep(Duration::from_millis(250)).await;
    }
    bail!(
        "PostgreSQL runs on {} but does not answer on 127.0.0.1:{port}; see {}",
        layout.data.display(),
        layout.log_file.display()
    )
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `preferred` if it is free (and not 0), else a port the OS hands out.
fn pick_port(preferred: u16) -> Result<u16> {
    if preferred != 0 && port_is_free(preferred) {
        return Ok(preferred);
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("could not find a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

/// The pid on the first line of a pid or lock file.
fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.lines().next()?.trim().parse().ok()
}

fn process_alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        // A zombie (dead, not yet reaped) has a /proc entry too.
        return fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.trim_start().chars().next());
            !matches!(state, Some('Z' | 'X'))
        });
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether `pid` is a live PostgreSQL process (after a reboot, a stale postmaster.pid
/// may name an unrelated process that got the same pid).
fn postmaster_running(pid: u32) -> bool {
    if !process_alive(pid) {
        return false;
    }
    fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |cmdline| {
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.contains("postgres") || cmdline.contains("postmaster")
    })
}

/// An exclusive lock between processes: a file created with `O_EXCL` that holds the
/// owner's pid, removed on drop. A lock whose owner died is broken by the next waiter.
struct LockFile {
    path: PathBuf,
}

impl LockFile {
    async fn acquire(path: &Path) -> Result<Self> {
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    let lock = Self { path: path.to_owned() };
                    writeln!(file, "{}", std::process::id())
                        .with_context(|| format!("could not write {}", path.display()))?;
                    return Ok(lock);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    if break_if_stale(path) {
                        continue;
                    }
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("could not create {}", path.display()));
                }
            }
            ensure!(
                Instant::now() < deadline,
                "timed out waiting for {}, held by another process (remove it if none is running)",
                path.display()
            );
            sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes the lock at `path` if its owner is gone; true if it did. A second lock file
/// guards the check-and-remove, so that two waiters cannot both break the lock and
/// the second one remove the fresh lock of the first.
fn break_if_stale(path: &Path) -> bool {
    if !lock_is_stale(path) {
        return false;
    }
    let mut guard = path.as_os_str().to_owned();
    guard.push(".break");
    let guard = PathBuf::from(guard);
    match fs::OpenOptions::new().write(true).create_new(true).open(&guard) {
        Ok(_) => {
            let broken = lock_is_stale(path) && fs::remove_file(path).is_ok();
            let _ = fs::remove_file(&guard);
            broken
        }
        Err(_) => {
            // Its owner died between creating and removing it: a matter of microseconds.
            if file_age(&guard).is_some_and(|age| age > EMPTY_LOCK_GRACE) {
                let _ = fs::remove_file(&guard);
            }
            false
        }
    }
}

fn lock_is_stale(path: &Path) -> bool {
    match read_pid(path) {
        Some(pid) => !process_alive(pid),
        // Being written right now, or left empty by a crash.
        None => file_age(path).is_some_and(|age| age > EMPTY_LOCK_GRACE),
    }
}

fn file_age(path: &Path) -> Option<Duration> {
    fs::metadata(path).ok()?.modified().ok()?.elapsed().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_executable(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn fake_bindir(dir: &Path) {
        for name in SERVER_BINARIES {
            touch_executable(&dir.join(name));
        }
    }

    #[test]
    fn path_symlinks_lead_to_the_real_bindir() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("lib/postgresql/15/bin");
        fake_bindir(&real);
        // Like /usr/local/bin here: links to some of the programs only.
        let local = tmp.path().join("local/bin");
        fs::create_dir_all(&local).unwrap();
        for name in ["initdb", "pg_ctl"] {
            std::os::unix::fs::symlink(real.join(name), local.join(name)).unwrap();
        }
        // Like Debian's /usr/bin: a pg_ctl wrapper but no postgres.
        let wrapper = tmp.path().join("bin");
        touch_executable(&wrapper.join("pg_ctl"));
        let path = std::env::join_paths([&wrapper, &local]).unwrap();

        let dirs = candidate_bindirs(Some(&path), None, &tmp.path().join("none"));
        assert_eq!(dirs, [fs::canonicalize(&real).unwrap()]);
    }

    #[test]
    fn path_comes_before_pg_config_and_versioned_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let on_path = tmp.path().join("opt/pg/bin");
        let pg_config = tmp.path().join("pg_config/bin");
        let versions = tmp.path().join("lib/postgresql");
        for dir in [&on_path, &pg_config] {
            fake_bindir(dir);
        }
        for version in ["9.6", "15", "16", "10"] {
            fake_bindir(&versions.join(version).join("bin"));
        }
        fs::create_dir_all(versions.join("17/bin")).unwrap(); // incomplete: skipped

        let on_path = fs::canonicalize(on_path).unwrap();
        let dirs = candidate_bindirs(Some(on_path.as_os_str()), Some(pg_config.clone()), &versions);
        let expected: Vec<PathBuf> = [on_path, pg_config]
            .into_iter()
            .chain(["16", "15", "10", "9.6"].iter().map(|v| versions.join(v).join("bin")))
            .collect();
        assert_eq!(dirs, expected);
        assert!(candidate_bindirs(None, None, &tmp.path().join("none")).is_empty());
    }

    #[tokio::test]
    async fn finds_this_machines_server_binaries() {
        let dirs = find_server_bindirs().await;
        if dirs.is_empty() {
            eprintln!("no PostgreSQL server binaries here; skipped");
            return;
        }
        for dir in &dirs {
            assert!(
                SERVER_BINARIES.iter().all(|name| is_executable(&dir.join(name))),
                "{dir:?}"
            );
        }
        let major = server_major_version(&dirs[0]).await.unwrap();
        assert!(major.parse::<f32>().is_ok(), "{major}");
    }

    #[test]
    fn parses_server_versions() {
        let parse = parse_major_version;
        assert_eq!(
            parse("postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n").as_deref(),
            Some("15")
        );
        assert_eq!(parse("postgres (PostgreSQL) 17beta1").as_deref(), Some("17"));
        assert_eq!(parse("postgres (PostgreSQL) 9.6.24").as_deref(), Some("9.6"));
        assert_eq!(parse("postgres 15"), None);
    }

    #[test]
    fn long_paths_get_a_short_socket_dir() {
        let short = Path::new("/work/main/.data/pg");
        assert_eq!(socket_dir_for(short), short.join("run"));
        let long = PathBuf::from(format!("/work/{}/.data/pg", "x".repeat(100)));
        let dir = socket_dir_for(&long);
        assert!(dir.starts_with(std::env::temp_dir()));
        assert_eq!(dir, socket_dir_for(&long), "stable");
        assert!(dir.as_os_str().len() + "/.s.PGSQL.65535".len() <= MAX_SOCKET_PATH);
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote(OsStr::new("/a b/it's")), r"'/a b/it'\''s'");
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:54329/postgres", "tenantry_test").unwrap(),
            "postgres://postgres@127.0.0.1:54329/tenantry_test"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres?sslmode=disable", "a/b c").unwrap(),
            "postgres://u:p@h:1/a%2Fb%20c?sslmode=disable"
        );
    }

    #[tokio::test]
    async fn without_binaries_a_normal_user_is_told_what_to_install() {
        let err = install_postgresql(false).await.unwrap_err().to_string();
        assert!(
            err.contains("apt-get install postgresql") && err.contains("DATABASE_URL"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn root_runs_programs_as_postgres() {
        if !is_root().await {
            return;
        }
        let tmp = std::env::temp_dir();
        let runners = [
            Runner::new(true).await.unwrap(),
            Runner::Su(find_system_program("su").unwrap()),
        ];
        for runner in runners {
            let whoami = run(runner.command(Path::new("id"), [OsStr::new("-un")], &tmp), "id").await;
            assert_eq!(whoami.unwrap().trim(), POSTGRES_USER, "{runner:?}");
        }
    }

    #[tokio::test]
    async fn lock_file_excludes_and_dead_owners_are_broken() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pg.lock");
        let held = LockFile::acquire(&path).await.unwrap();
        let waiter = tokio::spawn({
            let path = path.clone();
            async move { LockFile::acquire(&path).await.map(drop) }
        });
        sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "the second lock must wait");
        drop(held);
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(!path.exists());

        // A lock left by a dead process.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        fs::write(&path, format!("{dead_pid}\n")).unwrap();
        let lock = tokio::time::timeout(Duration::from_secs(2), LockFile::acquire(&path))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id()));
        drop(lock);
    }

    /// Starts a real cluster in a scratch folder (a few seconds), reuses it, stops it
    /// and starts it again with its data intact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cluster_starts_is_reused_and_keeps_its_data() {
        if find_server_bindirs().await.is_empty() {
            eprintln!("no PostgreSQL server binaries here; skipped");
            return;
        }
        let base = Path::new("/work/.cache/embedded-test");
        fs::create_dir_all(base).unwrap();
        let tmp = tempfile::tempdir_in(base).unwrap();
        let data_dir = tmp.path();
        let started = Instant::now();

        // Concurrent callers share one cluster.
        let (a, b) = tokio::join!(ensure_cluster_on(data_dir, 0), ensure_cluster_on(data_dir, 0));
        let url = a.unwrap();
        assert_eq!(url, b.unwrap());
        let port: u16 = url
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_ne!(port, DEFAULT_PORT);
        assert_eq!(
            fs::read_to_string(data_dir.join("pg/port")).unwrap().trim(),
            port.to_string()
        );

        let db_url = ensure_database(&url, "tenantry_embedded_test").await.unwrap();
        assert_eq!(db_url, ensure_database(&url, "tenantry_embedded_test").await.unwrap());
        let mut conn = PgConnection::connect(&db_url).await.unwrap();
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(name, "tenantry_embedded_test");
        conn.close().await.unwrap();

        // Reuse takes no lock and starts nothing.
        let reuse = Instant::now();
        assert_eq!(ensure_cluster(data_dir).await.unwrap(), url);
        assert!(reuse.elapsed() < Duration::from_secs(1));

        // After a stop, and with a stale pid file, it starts again on the same port.
        stop(data_dir).await;
        let pid_file = data_dir.join("pg/data/postmaster.pid");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        fs::write(&pid_file, format!("{dead_pid}\n")).unwrap();
        assert_eq!(ensure_cluster_on(data_dir, 0).await.unwrap(), url);
        let conn = PgConnection::connect(&db_url)
            .await
            .expect("the database survived the restart");
        conn.close().await.unwrap();

        stop(data_dir).await;
        eprintln!("embedded cluster test took {:?}", started.elapsed());
    }

    async fn stop(data_dir: &Path) {
        let layout = Layout::new(data_dir).unwrap();
        let bin = server_binaries(None, false).await.unwrap();
        let runner = Runner::new(is_root().await).await.unwrap();
        let args = [
            OsStr::new("-D"),
            layout.data.as_os_str(),
            OsStr::new("-m"),
            OsStr::new("fast"),
            OsStr::new("-w"),
            OsStr::new("stop"),
        ];
        run(runner.command(&bin.dir.join("pg_ctl"), args, &layout.pg), "pg_ctl stop")
            .await
            .unwrap();
    }
}
