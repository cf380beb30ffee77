//! Outside processes the tests lean on: free loopback ports, whether a tool is
//! installed, and a private Redis.

use std::{process::Stdio, time::Duration};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback address nothing listens on, for "unreachable" tests. Not a
/// [`free_port`]: that port is free only until another test's server, running
/// in parallel, is given it (seen: a provider "unreachable" at a port where
/// another test's identity provider answered). Port 1 (tcpmux) is below the
/// ephemeral range those servers get, and nothing on a test machine serves it.
pub const CLOSED_ADDR: &str = "127.0.0.1:1";

/// Whether `program` can be run (is on PATH).
pub fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A private `redis-server` for one test (or the machine's on 6379 when
/// `redis-server` is not installed); `None` when neither is available.
pub struct Redis {
    pub url: String,
    _child: Option<tokio::process::Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Redis {
    pub async fn start() -> Option<Self> {
        if !installed("redis-server") {
            let shared = "redis://127.0.0.1:6379".to_string();
            return redis_answers(&shared).await.then_some(Redis {
                url: shared,
                _child: None,
                _dir: None,
            });
        }
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server");
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if redis_answers(&url).await {
                return Some(Redis {
                    url,
                    _child: Some(child),
                    _dir: Some(dir),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not answer on {url}");
    }

    /// The keys matching `pattern`.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS").arg(pattern).query_async(&mut c).await.unwrap()
    }
}

async fn redis_answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let ping = async {
        let mut c = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut c).await
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), ping).await, Ok(Ok(_)))
}
