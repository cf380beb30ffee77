//! `tenantry db status|stop`: the embedded cluster outlives the processes that
//! use it (so later runs and test binaries connect at once), and these two
//! commands show and end it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::{
    Layout,
    binaries::{is_root, server_binaries},
    lock::LockFile,
    server::{Probe, Runner, postmaster_running, probe, read_pid, run},
};

/// The embedded cluster of a data folder, as `tenantry db status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The cluster's data directory (`<data_dir>/pg/data`).
    pub data: PathBuf,
    /// Whether a cluster was ever initialised there.
    pub initialised: bool,
    /// The postmaster's pid when it runs.
    pub pid: Option<u32>,
    /// The recorded TCP port (on 127.0.0.1).
    pub port: Option<u16>,
    /// Whether it answers queries on that port.
    pub accepting: bool,
}

impl ClusterStatus {
    pub fn running(&self) -> bool {
        self.pid.is_some()
    }
}

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match (self.initialised, self.pid, self.accepting) {
            (false, _, _) => "not initialised",
            (_, None, _) => "stopped",
            (_, Some(_), true) => "running",
            (_, Some(_), false) => "running (not accepting connections yet)",
        };
        writeln!(f, "embedded PostgreSQL: {state}")?;
        writeln!(f, "data dir: {}", self.data.display())?;
        if let Some(port) = self.port {
            writeln!(f, "port: {port}")?;
        }
        if let Some(pid) = self.pid {
            writeln!(f, "pid: {pid}")?;
        }
        Ok(())
    }
}

/// Reports the cluster in `<data_dir>/pg` without starting or creating anything.
pub async fn cluster_status(data_dir: &Path) -> Result<ClusterStatus> {
    let data = data_dir.join("pg").join("data");
    if !data_dir.exists() {
        return Ok(ClusterStatus {
            data,
            initialised: false,
            pid: None,
            port: None,
            accepting: false,
        });
    }
    let layout = Layout::new(data_dir)?;
    let pid = read_pid(&layout.data.join("postmaster.pid")).filter(|pid| postmaster_running(*pid));
    let port = layout.read_port();
    let accepting = match (pid, port) {
        (Some(_), Some(port)) => probe(port, &layout.data).await == Probe::Ours,
        _ => false,
    };
    Ok(ClusterStatus {
        initialised: layout.cluster_version()?.is_some(),
        data: layout.data,
        pid,
        port,
        accepting,
    })
}

/// Stops the cluster in `<data_dir>/pg` with a fast shutdown (open sessions
/// are ended, nothing is lost); answers whether it was running.
pub async fn stop_cluster(data_dir: &Path) -> Result<bool> {
    if !cluster_status(data_dir).await?.running() {
        return Ok(false);
    }
    let layout = Layout::new(data_dir)?;
    // Not while another process is starting it.
    let _lock = LockFile::acquire(&layout.lock_file).await?;
    let root = is_root().await;
    let version = layout.cluster_version()?;
    let bin = server_binaries(version.as_deref(), root).await?;
    let runner = Runner::new(root).await?;
    let args = [
        layout.data.as_os_str(),
        "-m".as_ref(),
        "fast".as_ref(),
        "-w".as_ref(),
        "-t".as_ref(),
        "60".as_ref(),
    ];
    let command = runner.command(
        &bin.dir.join("pg_ctl"),
        std::iter::once("-D".as_ref()).chain(args).chain(["stop".as_ref()]),
        &layout.pg,
    );
    run(command, "pg_ctl stop")
        .await
        .with_context(|| format!("could not stop the embedded PostgreSQL in {}", layout.data.display()))?;
    Ok(true)
}
