//! Scale-out proof, with the production topology run as plain processes: two real
//! `tenantry serve` instances over one PostgreSQL database and one Redis, an SMTP
//! sink, and PgBouncer in transaction pooling mode in front of PostgreSQL.
//!
//! - `instances`: tokens and logouts cross instances, the login rate limit is one
//!   budget, the outbox is drained by both workers exactly once, and SIGTERM
//!   drains an instance while the other keeps serving.
//! - `pgbouncer`: the isolation checks pass through PgBouncer (transaction mode).
//!
//! Tools that may be missing (`redis-server`, `pgbouncer`) make a test skip with a
//! loud `SKIPPED` line rather than fail.

mod instances;
mod pgbouncer;
mod smtp_sink;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use reqwest::StatusCode;

pub use crate::support::{Redis, free_port, installed};

/// Shared by every instance of a test: tokens signed by one verify on the other.
pub const SECRET_KEY: &str = "scale-test-secret-key-0123456789abcdef0123456789";

/// One `tenantry` process (the binary under test), with its own working
/// directory and log file. Killed on drop if still running.
pub struct Instance {
    pub name: &'static str,
    pub base: String,
    child: tokio::process::Child,
    pid: u32,
    dir: tempfile::TempDir,
}

impl Instance {
    /// The environment every test instance shares; `vars` override or add.
    pub fn env(database_url: &str, vars: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("ENVIRONMENT", "test"),
            ("SECRET_KEY", SECRET_KEY),
            ("DATABASE_URL", database_url),
            ("DATABASE_MAX_CONNECTIONS", "10"),
            ("EMAIL_PROVIDER", "log"),
            ("EMAIL_WORKER", "false"),
            ("FRONTEND_URL", "http://app.tenantry.test"),
            ("RATE_LIMIT_LOGIN_PER_MINUTE", "100000"),
            ("RATE_LIMIT_ACCOUNT_PER_MINUTE", "100000"),
            ("LOG_FORMAT", "json"),
            // As the Dockerfile sets it (see there): keeps RSS flat under logins.
            ("MALLOC_MMAP_THRESHOLD_", "131072"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in vars {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    /// Starts `tenantry <args>` on a free loopback port and waits for `/health`.
    /// The environment is exactly `env` (plus PATH), so no `.env` or outer
    /// variable leaks in.
    pub async fn start(name: &'static str, env: &[(String, String)], args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("tenantry.log")).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("STORAGE_PATH", dir.path().join("storage"))
            .env("TENANTRY_DATA_DIR", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the tenantry binary");
        let pid = child.id().unwrap();
        let mut instance = Instance {
            name,
            base: format!("http://127.0.0.1:{port}"),
            child,
            pid,
            dir,
        };
        instance.wait_healthy().await;
        instance
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status} before answering:\n{}", self.name, self.log());
            }
            if let Ok(r) = client.get(self.url("/health")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never answered /health:\n{}", self.name, self.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("tenantry.log")
    }

    /// The process's output so far (for failure messages).
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Resident set size in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }

    /// What an orchestrator does to stop a container.
    pub fn sigterm(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM {}", self.pid);
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("{} did not exit within {timeout:?}:\n{}", self.name, self.log()),
        }
    }
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Signs in on `base` and returns the token response.
pub async fn login(client: &reqwest::Client, base: &str, email: &str, tenant: &str) -> serde_json::Value {
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": crate::helpers::PASSWORD, "tenant_slug": tenant}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login of {email} on {base}");
    r.json().await.unwrap()
}
