//! Foundation properties: RLS at SQL level as the server's own role, the RLS
//! catalogue, the audit chain, readiness, and the problem+json error shape.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::{Acquire, Row};
use tenantry::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::TenantId,
};
use uuid::Uuid;

use crate::helpers::*;

/// Every table with a tenant_id column.
async fn tenant_tables(app: &TestApp) -> Vec<String> {
    let mut c = app.db.superuser().await;
    sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' \
         ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_tenant_table_has_forced_rls_and_a_policy() {
    let app = TestApp::spawn().await;
    let mut c = app.db.superuser().await;
    let tables = tenant_tables(&app).await;
    assert!(tables.len() >= 15, "expected the tenant tables, got {tables:?}");
    for t in tables.iter().map(String::as_str).chain(["tenants"]) {
        let row = sqlx::query(
            "SELECT c.relrowsecurity, c.relforcerowsecurity, \
             (SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname) AS policies \
             FROM pg_class c WHERE c.relname = $1 AND c.relkind = 'r'",
        )
        .bind(t)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert!(row.get::<bool, _>(0), "{t}: RLS not enabled");
        assert!(row.get::<bool, _>(1), "{t}: RLS not forced");
        assert!(row.get::<i64, _>(2) >= 1, "{t}: no policy");
    }
}

#[tokio::test]
async fn server_pool_runs_as_non_bypass_role_even_with_superuser_url() {
    let app = TestApp::spawn().await;
    let mut su = app.db.superuser().await;
    let is_super: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert!(
        is_super,
        "the test DATABASE_URL should be a superuser for this test to mean something"
    );

    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let (user, bypass, superuser): (String, bool, bool) =
        sqlx::query_as("SELECT current_user::text, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(user, "tenantry_app");
    assert!(!bypass && !superuser);

    let mut tx = app
        .state
        .db
        .tenant_tx(TenantId::from_trusted(Uuid::new_v4()))
        .await
        .unwrap();
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(user, "tenantry_app");
}

#[tokio::test]
async fn rls_isolates_tenants_at_sql_level_for_the_runtime_role() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    let mut su = app.db.superuser().await;
    for t in [&a, &b] {
        sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, 'p')")
            .bind(t.id)
            .bind(Uuid::new_v4())
            .execute(&mut su)
            .await
            .unwrap();
    }

    // No tenant set: every tenant table reads nothing.
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for t in tenant_tables(&app).await {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, 0, "{t} visible without a tenant");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0, "tenants visible without a tenant");
    drop(tx);

    // Tenant A set: only A's rows.
    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
    for t in ["users", "roles", "projects", "user_roles", "role_permissions"] {
        let others: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {t} WHERE tenant_id <> $1"
        )))
        .bind(a.id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let own: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(others, 0, "{t} leaks other tenants");
        assert!(own > 0, "{t} hides the tenant's own rows");
    }

    // UPDATE / DELETE aimed at B's rows affect nothing.
    let updated = sqlx::query("UPDATE projects SET name = 'pwned' WHERE tenant_id = $1")
        .bind(b.id)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 0);
    let deleted = sqlx::query("DELETE FROM users WHERE tenant_id = $1")
        .bind(b.id)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);

    // INSERT of a row carrying B's tenant_id is refused.
    let err = sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, 'x')")
        .bind(b.id)
        .bind(Uuid::new_v4())
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);

    let untouched: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1 AND name = 'p'")
        .bind(b.id)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(untouched, 1);
}

#[tokio::test]
async fn audit_rows_are_append_only_and_tampering_is_detected() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("audited").await;
    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
    for i in 0..3 {
        audit::record(
            &mut tx,
            TenantId::from_trusted(a.id),
            &AuditActor::default(),
            AuditEvent::new(AuditAction::ProjectCreated, "project", i).new_values(json!({"name": format!("p{i}")})),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
    let ok = audit::verify_chain(&mut tx, a.id).await.unwrap();
    assert!(ok.valid && ok.rows_checked == 3, "{ok:?}");
    drop(tx);
    for change in [
        "UPDATE audit_logs SET action = 'project.deleted'",
        "DELETE FROM audit_logs",
    ] {
        let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
        let err = sqlx::query(change).execute(&mut *tx).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only") || err.to_string().contains("permission denied"),
            "{err}"
        );
    }

    // A superuser who disables the guard and edits a row is caught by verification.
    let mut su = app.db.superuser().await;
    sqlx::query("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable")
        .execute(&mut su)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_logs SET new_values = '{\"name\":\"forged\"}' WHERE tenant_id = $1 AND seq = 2")
        .bind(a.id)
        .execute(&mut su)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_immutable")
        .execute(&mut su)
        .await
        .unwrap();
    let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(a.id)).await.unwrap();
    let bad = audit::verify_chain(&mut tx, a.id).await.unwrap();
    assert!(!bad.valid);
    assert_eq!(bad.first_broken_seq, Some(2));
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_audit_trail_but_nothing_else_can() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("doomed").await;
    let b = app.seed_tenant("keeper").await;
    for t in [&a, &b] {
        let mut tx = app.state.db.tenant_tx(TenantId::from_trusted(t.id)).await.unwrap();
        audit::record(
            &mut tx,
            TenantId::from_trusted(t.id),
            &AuditActor::default(),
            AuditEvent::new(AuditAction::TenantUpdated, "tenant", t.id),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = app.state.db.cli_command("test").tx().await.unwrap();
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(a.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut su = app.db.superuser().await;
    let left: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM audit_logs WHERE tenant_id IN ($1, $2)")
        .bind(a.id)
        .bind(b.id)
        .fetch_all(&mut su)
        .await
        .unwrap();
    assert_eq!(left, vec![b.id]);
}

#[tokio::test]
async fn errors_are_problem_json_with_the_right_status() {
    let app = TestApp::spawn().await;
    let login = app.url("/api/v1/auth/login");

    let r = Resp::from(
        app.client
            .post(&login)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(StatusCode::BAD_REQUEST);

    let r = Resp::from(
        app.client
            .post(&login)
            .header("content-type", "text/plain")
            .body("hi")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Without a Content-Type the body is read as JSON.
    let body = r#"{"email":"nobody@example.com","password":"not-the-password"}"#;
    let r = Resp::from(app.client.post(&login).body(body).send().await.unwrap()).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);

    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = Resp::from(
        app.client
            .post(&login)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(StatusCode::PAYLOAD_TOO_LARGE);

    let r = app
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": 5})))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{}", r.body);

    let r = app.call(Method::GET, "/api/v1/no/such/route", None, None).await;
    r.assert_problem(StatusCode::NOT_FOUND);

    let r = app.call(Method::DELETE, "/health", None, None).await;
    r.assert_problem(StatusCode::METHOD_NOT_ALLOWED);

    let r = app.call(Method::GET, "/api/v1/auth/status", None, None).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn early_refusals_keep_connections_usable_and_bad_input_is_named() {
    let app = TestApp::spawn().await;
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big);
    let r = Resp::from(r.send().await.unwrap()).await;
    r.assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    // The unread rest of the body makes the connection unusable; keep-alive
    // clients must be told rather than find out on their next request.
    assert_eq!(r.header("connection"), Some("close"));

    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "tenant_admin").await;
    for (query, field) in [
        ("page=abc", "page"),
        ("page_size=ten", "page_size"),
        ("page=1&page_size=1.5", "page_size"),
    ] {
        let r = app.get(&format!("/api/v1/users?{query}"), &token).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["errors"][0]["field"], field, "{query}: {}", r.body);
    }
    // Refused before its body was read (no token), a request still leaves the
    // keep-alive connection usable, even when the body arrives after the headers.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let body = r#"{"name":"late"}"#;
    let head = format!(
        "POST /api/v1/projects HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    sock.write_all(body.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let n = sock.read(&mut buf).await.unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("connection: close"), "{first}");
    sock.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let n = sock.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "connection was not kept alive"
    );

    // PostgreSQL cannot store NUL; it is refused as invalid input, never a 500.
    let r = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "ok", "description": "a\u{0}b"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "description", "{}", r.body);
    let r = app
        .post(
            "/api/v1/users/bulk/create",
            &token,
            json!({"users": [{"email": "x\u{0}@a.io"}]}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "users[0].email", "{}", r.body);
    app.get("/api/v1/projects?search=%00", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.login("a\u{0}@b.io", "whatever-password", None).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/auth/oauth/google/login/ac%00me", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // A trailing slash reaches the same route, query string kept.
    let r = app.get("/api/v1/users/?page_size=1", &token).await;
    assert_eq!(
        (r.status, r.body["page_size"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{}",
        r.body
    );

    let r = app.get("/api/v1/users?page=0&page_size=1000", &token).await;
    assert_eq!(
        (r.body["page"].as_i64(), r.body["page_size"].as_i64()),
        (Some(1), Some(100)),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn request_ids_and_security_headers_on_every_response() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.headers().contains_key("referrer-policy"));
    let r = Resp::from(app.client.get(app.url("/nope")).send().await.unwrap()).await;
    let id = r.header("x-request-id").unwrap().to_string();
    assert_eq!(r.body["request_id"], id.as_str());
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("content-security-policy"));
    let spec = app.public_json("/openapi.json").await;
    assert!(spec["paths"]["/api/v1/auth/status"].is_object());
    let metrics = app.public_text("/metrics").await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    let login_401 = &spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["401"]["content"];
    assert_eq!(
        login_401["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert!(spec["components"]["schemas"]["Problem"]["properties"]["request_id"].is_object());
    for path in ["/health", "/health/detailed", "/ready", "/metrics"] {
        assert!(
            spec["paths"][path]["get"].is_object(),
            "{path} missing from /openapi.json"
        );
    }
    // Swagger UI is self-contained: no online validator badge.
    let init = app.public_text("/docs/swagger-initializer.js").await;
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
}

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
         WHERE datname = current_database() AND application_name = 'tenantry' AND pid <> pg_backend_pid()) k",
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
