//! Finding the PostgreSQL server binaries (PATH, `pg_config`, the Debian layout),
//! and installing them with apt-get when running as root.

use std::{
    ffi::OsStr,
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail, ensure};
use tokio::process::Command;

use super::{INSTALL_HINT, SERVER_BINARIES, server::run};

/// A folder with initdb, pg_ctl and postgres of one PostgreSQL version.
#[derive(Debug)]
pub(super) struct ServerBin {
    pub(super) dir: PathBuf,
    /// `15`, or `9.6` for old versions: the format of a cluster's PG_VERSION file.
    pub(super) major: String,
}

/// Finds server binaries, of version `want` if given, installing them if there are none.
pub(super) async fn server_binaries(want: Option<&str>, root: bool) -> Result<ServerBin> {
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
pub(super) async fn find_server_bindirs() -> Vec<PathBuf> {
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

pub(super) fn candidate_bindirs(
    path: Option<&OsStr>,
    pg_config_bindir: Option<PathBuf>,
    versions_root: &Path,
) -> Vec<PathBuf> {
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

pub(super) fn is_executable(path: &Path) -> bool {
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
pub(super) fn find_system_program(name: &str) -> Option<PathBuf> {
    find_on_path(std::env::var_os("PATH").as_deref(), name).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|program| is_executable(program))
    })
}

/// The major version of the server in `dir`, from `postgres --version`.
pub(super) async fn server_major_version(dir: &Path) -> Result<String> {
    let mut command = Command::new(dir.join("postgres"));
    command.arg("--version");
    let out = run(command, "postgres --version").await?;
    parse_major_version(&out).with_context(|| format!("unexpected `postgres --version` output: {out}"))
}

/// `postgres (PostgreSQL) 15.20 (Debian …)` → `15`; `9.6.24` → `9.6`.
pub(super) fn parse_major_version(version_output: &str) -> Option<String> {
    let version = version_output.split("(PostgreSQL)").nth(1)?.split_whitespace().next()?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let first = parts.next().filter(|part| !part.is_empty())?;
    match (first.parse::<u32>().ok()?, parts.next()) {
        (major, Some(minor)) if major < 10 && !minor.is_empty() => Some(format!("{major}.{minor}")),
        (major, _) => Some(major.to_string()),
    }
}

/// Installs PostgreSQL with apt-get when we are root and it exists, else fails with a hint.
pub(super) async fn install_postgresql(root: bool) -> Result<()> {
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

pub(super) async fn is_root() -> bool {
    let mut id = Command::new("id");
    id.arg("-u");
    run(id, "id -u").await.is_ok_and(|uid| uid.trim() == "0")
}
