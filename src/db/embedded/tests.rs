//! Unit tests of the embedded cluster: binary discovery, locks, and (when server
//! binaries exist) a real cluster.

use std::time::Instant;

use tokio::time::sleep;

use super::{
    binaries::{
        candidate_bindirs, find_server_bindirs, find_system_program, install_postgresql, is_executable, is_root,
        parse_major_version, server_binaries, server_major_version,
    },
    lock::LockFile,
    server::{Runner, read_pid, run, sh_quote},
    *,
};

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
