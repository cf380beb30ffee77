//! `tenantry db status|stop` on a private embedded cluster in a temporary data
//! folder (no DATABASE_URL): the binary reports it, stops it cleanly, and the
//! status says so afterwards.

use std::{path::Path, process::Output};

/// Runs the built `tenantry` binary with `TENANTRY_DATA_DIR=dir` and no DATABASE_URL.
async fn tenantry(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("TENANTRY_DATA_DIR", dir)
        .env("ENVIRONMENT", "development")
        // No `.env` from the repository is read from here.
        .current_dir(dir)
        .output()
        .await
        .expect("run tenantry")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops the cluster even when an assertion fails half-way.
struct StopOnDrop<'a>(&'a Path);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .args(["db", "stop"])
            .env_remove("DATABASE_URL")
            .env("TENANTRY_DATA_DIR", self.0)
            .current_dir(self.0)
            .output();
    }
}

#[tokio::test]
async fn db_status_and_stop_report_and_end_the_embedded_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _stop = StopOnDrop(dir);

    let out = tenantry(dir, &["db", "status"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("not initialised"), "{}", stdout(&out));

    // Any command without DATABASE_URL starts the cluster, and says it stays up.
    let out = tenantry(dir, &["migrate"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tenantry db stop"), "{stderr}");

    let out = tenantry(dir, &["db", "status"]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("embedded PostgreSQL: running"), "{text}");
    assert!(text.contains("/pg/data"), "{text}");
    let field = |name: &str| -> u32 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let (port, pid) = (field("port:"), field("pid:"));
    assert!(port > 0);
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "the postmaster runs");

    let out = tenantry(dir, &["db", "stop"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("stopped"), "{}", stdout(&out));
    let out = tenantry(dir, &["db", "status"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("embedded PostgreSQL: stopped"),
        "{}",
        stdout(&out)
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_err(),
        "nothing listens on its port any more"
    );

    // Stopping a stopped cluster is fine.
    let out = tenantry(dir, &["db", "stop"]).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("not running"), "{}", stdout(&out));
}
