//! The single-statement tenant reads (`db::TenantRead`, the `tenant_read_*`
//! functions of migration 20261205170000): the same wall as a tenant
//! transaction, at SQL level as the server's own role, and nothing left on the
//! pooled connection afterwards.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tenantry::{
    auth::session::read_user_summary,
    db::{ReadArg, TenantId},
    pagination::PageParams,
    projects::{
        model::{ProjectFilter, ProjectView},
        repo,
    },
};
use uuid::Uuid;

use crate::helpers::*;

/// Creates `n` projects in the tenant through the API; returns their ids.
async fn projects(app: &TestApp, t: &SeededTenant, n: usize) -> Vec<Uuid> {
    let token = t.token(app, "project_manager").await;
    let mut ids = Vec::new();
    for i in 0..n {
        let r = app
            .post(
                "/api/v1/projects",
                &token,
                json!({"name": format!("{} project {i}", t.slug)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().parse().unwrap());
    }
    ids
}

fn default_list(page: i64, page_size: i64) -> ProjectFilter {
    ProjectFilter {
        search: None,
        status: None,
        sort: None,
        page: PageParams { page, page_size },
    }
}

#[tokio::test]
async fn a_tenant_read_sees_only_its_own_tenant() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.seed_tenant("reads-a").await, app.seed_tenant("reads-b").await);
    let (a_projects, b_projects) = (projects(&app, &a, 3).await, projects(&app, &b, 2).await);
    let read_a = app.state.db.tenant_read(TenantId::from_trusted(a.id));

    // A project by id: A's own, never B's.
    let own = repo::read_project(&read_a, a_projects[0]).await.unwrap();
    assert_eq!(own.map(|p| p.id), Some(a_projects[0]));
    assert!(repo::read_project(&read_a, b_projects[0]).await.unwrap().is_none());

    // The default page: A's projects only, newest first, with A's total.
    let page = repo::read_default_page(&read_a, &default_list(1, 20))
        .await
        .unwrap()
        .expect("the default list is a tenant read");
    assert_eq!(page.total, 3);
    let ids: Vec<Uuid> = page.items.iter().map(|p| p.id).collect();
    assert_eq!(ids, a_projects.iter().rev().copied().collect::<Vec<_>>());
    let second = repo::read_default_page(&read_a, &default_list(2, 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.total, second.items.len()), (3, 1));

    // Past the end, or filtered: not a tenant read (the transaction path answers).
    assert!(
        repo::read_default_page(&read_a, &default_list(9, 20))
            .await
            .unwrap()
            .is_none()
    );
    let filtered = ProjectFilter {
        search: Some("project".into()),
        ..default_list(1, 20)
    };
    assert!(repo::read_default_page(&read_a, &filtered).await.unwrap().is_none());

    // A user summary: A's user, not B's.
    let me = read_user_summary(&read_a, a.user_id("user")).await.unwrap();
    assert_eq!(me.email, a.email("user"));
    let err = read_user_summary(&read_a, b.user_id("user")).await.unwrap_err();
    assert!(matches!(err, sqlx::Error::RowNotFound), "{err}");
}

#[tokio::test]
async fn the_read_functions_leave_nothing_on_the_connection() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("reads-c").await;
    let ids = projects(&app, &a, 1).await;

    // As the server's own role, on one connection: the read sees A's project,
    // and the next statement (its own implicit transaction) sees no tenant.
    let mut conn = PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("SET ROLE tenantry_app").execute(&mut conn).await.unwrap();
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tenant_read_project($1, $2)")
        .bind(a.id)
        .bind(ids[0])
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(found, ids);
    let setting: Option<String> = sqlx::query_scalar("SELECT NULLIF(current_setting('app.tenant_id', true), '')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(setting, None, "the tenant setting ended with the statement");
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(visible, 0, "no tenant, no rows");

    // Inside a transaction the function's settings are local to it as well.
    let mut tx = conn.begin().await.unwrap();
    let _: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tenant_read_project($1, $2)")
        .bind(a.id)
        .bind(ids[0])
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(visible, 0);

    // PUBLIC cannot call them: only the server's role.
    let granted: bool =
        sqlx::query_scalar("SELECT has_function_privilege('public', 'tenant_read_project(uuid, uuid)', 'EXECUTE')")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!granted);
}

/// Many tenants' reads share the pipelined connections, their statements sent
/// back to back: each still sees only its own tenant, and one that fails
/// (here a negative LIMIT) fails alone.
#[tokio::test]
async fn pipelined_reads_stay_in_their_own_tenant_and_fail_alone() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.seed_tenant("reads-g").await, app.seed_tenant("reads-h").await);
    let (a_ids, b_ids) = (projects(&app, &a, 3).await, projects(&app, &b, 2).await);
    let (read_a, read_b) = (
        app.state.db.tenant_read(TenantId::from_trusted(a.id)),
        app.state.db.tenant_read(TenantId::from_trusted(b.id)),
    );
    let newest_first = |ids: &[Uuid]| ids.iter().rev().copied().collect::<Vec<_>>();
    let (a_page, b_page) = (newest_first(&a_ids), newest_first(&b_ids));

    let (a_first, b_first) = (a_ids[0], b_ids[0]);
    let reads = (0..300).map(|i| {
        let (read, expected) = if i % 2 == 0 {
            (&read_a, &a_page)
        } else {
            (&read_b, &b_page)
        };
        async move {
            match i % 3 {
                0 if i % 5 == 0 => {
                    let failed = read
                        .fetch_all::<ProjectView>(
                            "SELECT id, name, description, status, version, document_count, created_at, \
                             updated_at, created_by, updated_by FROM tenant_read_projects($1, $2, $3)",
                            &[ReadArg::Int(-1), ReadArg::BigInt(0)],
                        )
                        .await;
                    let code = match failed {
                        Err(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()),
                        other => panic!("a negative LIMIT must fail: {other:?}"),
                    };
                    assert_eq!(code.as_deref(), Some("2201W"));
                }
                0 | 1 => {
                    let page = repo::read_default_page(read, &default_list(1, 20))
                        .await
                        .unwrap()
                        .unwrap();
                    let ids: Vec<Uuid> = page.items.iter().map(|p| p.id).collect();
                    assert_eq!(&ids, expected);
                    assert_eq!(page.total, expected.len() as i64);
                }
                _ => {
                    let own = repo::read_project(read, expected[0]).await.unwrap();
                    assert_eq!(own.map(|p| p.id), Some(expected[0]));
                    let other = if i % 2 == 0 { b_first } else { a_first };
                    assert!(repo::read_project(read, other).await.unwrap().is_none());
                }
            }
        }
    });
    futures::future::join_all(reads).await;

    // They ran on the pipelined connections: at most two, named for what they
    // are; none behind a transaction pooler (bench/pgbouncer-tests.sh), where
    // the reads use the pool.
    let mut su = app.db.superuser().await;
    let pipelines: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'tenantry-reads'",
    )
    .fetch_one(&mut su)
    .await
    .unwrap();
    let expected = if std::env::var_os("TENANTRY_TEST_PGBOUNCER_PORT").is_some() {
        0..=0
    } else {
        1..=2
    };
    assert!(expected.contains(&pipelines), "{pipelines} pipelined connections");
}

#[tokio::test]
async fn reads_over_http_answer_as_before() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.seed_tenant("reads-d").await, app.seed_tenant("reads-e").await);
    let b_projects = projects(&app, &b, 1).await;
    let a_projects = projects(&app, &a, 2).await;
    let token = a.token(&app, "viewer").await;

    let list = app.get("/api/v1/projects", &token).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 2);
    assert_eq!(list.body["items"][0]["id"], a_projects[1].to_string());
    assert_eq!(list.body["items"][0]["document_count"], 0);

    let own = app.get(&format!("/api/v1/projects/{}", a_projects[0]), &token).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.header("etag"), Some("\"1\""));
    app.get(&format!("/api/v1/projects/{}", b_projects[0]), &token)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    let status = app.get("/api/v1/auth/status", &token).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["user"]["email"], a.email("viewer"));
    assert_eq!(status.body["tenant"]["id"], a.id.to_string());
}

/// The pipelined read connections are shared, so a read cut off mid-statement
/// must never leave its answer for the next read on the connection, and
/// connections that died (a restart, a failover, a terminated backend) are
/// replaced without the caller seeing it.
#[tokio::test]
async fn read_connections_survive_interrupted_reads_and_dead_backends() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("reads-f").await;
    let ids = projects(&app, &a, 2).await;
    let read = app.state.db.tenant_read(TenantId::from_trusted(a.id));
    assert_eq!(
        repo::read_project(&read, ids[0]).await.unwrap().map(|p| p.id),
        Some(ids[0])
    );

    // A read blocked on a lock and abandoned by its caller (as when a client
    // hangs up), then the lock goes: the next reads answer their own question.
    let mut locker = PgConnection::connect(&app.db.url).await.unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let cut = tokio::time::timeout(std::time::Duration::from_millis(300), repo::read_project(&read, ids[0])).await;
    assert!(cut.is_err(), "the read waited for the lock");
    lock.rollback().await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            repo::read_project(&read, ids[1]).await.unwrap().map(|p| p.id),
            Some(ids[1])
        );
        let page = repo::read_default_page(&read, &default_list(1, 20))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page.total, 2);
    }

    // Every server connection terminated behind the server's back: the next
    // read still answers, on a fresh connection.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name LIKE 'tenantry%') t",
    )
    .fetch_one(&mut locker)
    .await
    .unwrap();
    assert!(killed >= 1, "the read connection was open");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        repo::read_project(&read, ids[0]).await.unwrap().map(|p| p.id),
        Some(ids[0])
    );
    let list = app.get("/api/v1/projects", &a.token(&app, "viewer").await).await;
    assert_eq!((list.status, list.body["total"].clone()), (StatusCode::OK, json!(2)));

    // A command's small budget keeps no pipelined connections: the reads use its pool.
    let small = tenantry::db::Db::connect(&app.db.url, 2).await.unwrap();
    let read = small.tenant_read(TenantId::from_trusted(a.id));
    assert_eq!(
        repo::read_project(&read, ids[1]).await.unwrap().map(|p| p.id),
        Some(ids[1])
    );
    assert_eq!(small.pool().options().get_max_connections(), 2);
}

/// The session check (`tenant_read_session`, used on a session-cache miss)
/// at SQL level as the server's role: a live session resolves with its
/// permissions, a revoked one or another tenant's resolves to nothing, and
/// PUBLIC cannot call it.
#[tokio::test]
async fn the_session_read_sees_only_live_sessions_of_its_tenant() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.seed_tenant("reads-g").await, app.seed_tenant("reads-h").await);
    let token = a.token(&app, "viewer").await;
    b.token(&app, "viewer").await;
    let mut conn = PgConnection::connect(&app.db.url).await.unwrap();
    let session = |t: &SeededTenant| {
        sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM user_sessions WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(t.id)
        .bind(t.user_id("viewer"))
    };
    let (a_session, b_session) = (
        session(&a).fetch_one(&mut conn).await.unwrap(),
        session(&b).fetch_one(&mut conn).await.unwrap(),
    );
    sqlx::query("SET ROLE tenantry_app").execute(&mut conn).await.unwrap();
    let read = |tenant: Uuid, session: Uuid, user: Uuid| {
        sqlx::query_as::<_, (String, Vec<String>)>("SELECT email, permissions FROM tenant_read_session($1, $2, $3)")
            .bind(tenant)
            .bind(session)
            .bind(user)
    };
    let own = read(a.id, a_session, a.user_id("viewer"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].0, a.email("viewer"));
    assert!(own[0].1.iter().any(|p| p == "projects:read"), "{:?}", own[0].1);
    for (tenant, session, user) in [
        (a.id, b_session, b.user_id("viewer")),
        (b.id, a_session, a.user_id("viewer")),
    ] {
        let rows = read(tenant, session, user).fetch_all(&mut conn).await.unwrap();
        assert!(rows.is_empty(), "another tenant's session resolved");
    }
    let public: bool = sqlx::query_scalar(
        "SELECT has_function_privilege('public', 'tenant_read_session(uuid, uuid, uuid)', 'EXECUTE')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(!public);

    // Signed out: the next check (past the cache's lifetime) finds nothing.
    let r = app.post("/api/v1/auth/logout", &token, json!({})).await;
    assert!(r.status.is_success(), "{}", r.body);
    let rows = read(a.id, a_session, a.user_id("viewer"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(rows.is_empty(), "a revoked session resolved");
    app.get("/api/v1/projects", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_default_lists_are_read_off_an_index_without_sorting() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("reads-order").await;
    projects(&app, &a, 3).await;

    // As the server's own role in A's transaction; with sequential and bitmap
    // scans off (a test's few rows would be read whole and sorted), the planner
    // shows whether an index gives each default order by itself.
    let mut conn = PgConnection::connect(&app.db.url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for setting in [
        "SET LOCAL ROLE tenantry_app".to_string(),
        "SET LOCAL enable_seqscan = off".to_string(),
        "SET LOCAL enable_bitmapscan = off".to_string(),
        format!("SELECT set_config('app.tenant_id', '{}', true)", a.id),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(setting))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let project = Uuid::new_v4();
    for (list, query) in [
        (
            "projects",
            "SELECT id FROM projects p ORDER BY p.created_at DESC, p.id DESC LIMIT 20".to_string(),
        ),
        (
            "projects, oldest first",
            "SELECT id FROM projects p ORDER BY p.created_at ASC, p.id ASC LIMIT 20".into(),
        ),
        (
            "users",
            "SELECT id FROM users u ORDER BY u.created_at DESC, u.id DESC LIMIT 20".into(),
        ),
        (
            "documents",
            "SELECT id FROM documents d ORDER BY d.created_at DESC, d.id DESC LIMIT 20".into(),
        ),
        (
            "a project's documents",
            format!(
                "SELECT id FROM documents d WHERE d.project_id = '{project}' ORDER BY d.created_at DESC, d.id DESC LIMIT 20"
            ),
        ),
    ] {
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {query}")))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("Index"), "{list}: {plan}");
        assert!(!plan.contains("Sort"), "{list} sorts its rows: {plan}");
    }
    tx.rollback().await.unwrap();

    // The page inside tenant_read_projects is planned once per connection, not
    // on every call (its bound LIMIT made PostgreSQL re-plan it).
    let config: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(proconfig) FROM pg_proc WHERE oid = 'tenant_read_projects(uuid, integer, bigint)'::regprocedure",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(config, ["plan_cache_mode=force_generic_plan"]);
}
