//! The database going away and coming back: readiness follows it without a
//! restart, and requests survive pooled connections being dropped.

use reqwest::StatusCode;

use crate::helpers::*;

/// A TCP forwarder standing between the app and PostgreSQL, so the test can
/// take the database away and bring it back.
struct Proxy {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    kill: tokio::sync::broadcast::Sender<()>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (kill, _) = tokio::sync::broadcast::channel(4);
        let (up2, kill2) = (up.clone(), kill.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut killed = kill2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = killed.recv() => {}
                    }
                });
            }
        });
        Proxy { addr, up, kill }
    }
    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            let _ = self.kill.send(());
        }
    }
}

#[tokio::test]
async fn ready_follows_the_database_without_a_restart() {
    let db = TestDb::new().await;
    let real = url::Url::parse(&db.url).unwrap();
    let proxy = Proxy::start(format!("{}:{}", real.host_str().unwrap(), real.port().unwrap_or(5432))).await;
    let mut via_proxy = real.clone();
    via_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let app = TestApp::spawn_on(db, TestConfig::default().set("DATABASE_URL", via_proxy.as_str())).await;
    let ready = || async { app.client.get(app.url("/ready")).send().await.unwrap().status() };
    assert_eq!(ready().await, StatusCode::OK);
    proxy.set_up(false);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);
    let h = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK, "liveness does not depend on the database");
    proxy.set_up(true);
    let mut status = ready().await;
    for _ in 0..50 {
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = ready().await;
    }
    assert_eq!(status, StatusCode::OK);
}

/// Pooled connections are not pinged before every use (only after 30 s idle), so
/// connections the database dropped must not surface as errors: the server
/// retries the transaction's BEGIN on another connection.
#[tokio::test]
async fn requests_survive_the_database_dropping_pooled_connections() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "viewer").await;
    let warm = futures::future::join_all((0..6).map(|_| app.get("/api/v1/projects", &token))).await;
    assert!(warm.iter().all(|r| r.status == StatusCode::OK));

    let mut su = app.db.superuser().await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name LIKE 'tenantry%' AND pid <> pg_backend_pid()) k",
    )
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert!(killed >= 1, "the server had pooled connections to drop");

    let after = futures::future::join_all((0..6).map(|_| app.get("/api/v1/projects", &token))).await;
    for r in &after {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    assert_eq!(app.get("/api/v1/auth/status", &token).await.status, StatusCode::OK);
}
