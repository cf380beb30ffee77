//! Running the server programs (as `postgres` when we are root): initdb, pg_ctl
//! start, readiness probes, and the process checks behind stale pid files.

use std::{
    ffi::OsStr,
    fs, io,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use sqlx::{
    Connection as _, PgConnection,
    postgres::{PgConnectOptions, PgSslMode},
};
use tokio::{net::TcpStream, process::Command, time::sleep};

use super::{
    Layout, POSTGRES_USER, READY_TIMEOUT,
    binaries::{ServerBin, find_system_program},
};

/// How to run the server programs: directly, or as the `postgres` user when we are
/// root (initdb, pg_ctl and postgres refuse to run as root).
#[derive(Debug)]
pub(super) enum Runner {
    Direct,
    Runuser(PathBuf),
    Su(PathBuf),
}

impl Runner {
    pub(super) async fn new(root: bool) -> Result<Self> {
        if !root {
            return Ok(Self::Direct);
        }
        let user_exists = succeeds(Command::new("id").arg(POSTGRES_USER)).await;
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

    pub(super) fn is_root(&self) -> bool {
        !matches!(self, Self::Direct)
    }

    /// `program args…` as the server's user, in folder `cwd` (which that user must be
    /// able to enter).
    pub(super) fn command<'a>(&self, program: &Path, args: impl IntoIterator<Item = &'a OsStr>, cwd: &Path) -> Command {
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
pub(super) fn sh_quote(word: &OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"))
}

/// Runs initdb into a staging folder renamed into place once complete, so that an
/// interrupted initdb never leaves a half-made cluster behind.
pub(super) async fn init_cluster(layout: &Layout, bin: &ServerBin, runner: &Runner) -> Result<()> {
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

pub(super) async fn start_server(layout: &Layout, bin: &ServerBin, runner: &Runner, port: u16) -> Result<()> {
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

/// Runs `command` with no input and its output discarded; whether it exited with success.
pub(super) async fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// Runs `command` to completion, returning its stdout, or an error with its stderr.
pub(super) async fn run(mut command: Command, what: &str) -> Result<String> {
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
pub(super) enum Probe {
    /// Our cluster, accepting queries.
    Ours,
    /// Something else, or our cluster not ready for queries yet.
    Other,
    /// Nothing.
    Closed,
}

pub(super) async fn probe(port: u16, data: &Path) -> Probe {
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

pub(super) async fn wait_until_ready(port: u16, layout: &Layout) -> Result<()> {
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

pub(super) fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `preferred` if it is free (and not 0), else a port the OS hands out.
pub(super) fn pick_port(preferred: u16) -> Result<u16> {
    if preferred != 0 && port_is_free(preferred) {
        return Ok(preferred);
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("could not find a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

/// The pid on the first line of a pid or lock file.
pub(super) fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.lines().next()?.trim().parse().ok()
}

pub(super) fn process_alive(pid: u32) -> bool {
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
pub(super) fn postmaster_running(pid: u32) -> bool {
    if !process_alive(pid) {
        return false;
    }
    fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |cmdline| {
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.contains("postgres") || cmdline.contains("postmaster")
    })
}
