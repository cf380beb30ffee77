//! RLS isolation holds through PgBouncer's transaction pooling: concurrent
//! tenants' transactions on two shared server connections never see one another.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
};

use tenantry::db::{Db, TenantId};
use uuid::Uuid;

use super::{POOL_SIZE, PgBouncer};
use crate::helpers::*;

async fn insert_project(app: &TestApp, tenant: Uuid, name: &str) {
    let mut su = app.db.superuser().await;
    sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, $3)")
        .bind(tenant)
        .bind(Uuid::new_v4())
        .bind(name)
        .execute(&mut su)
        .await
        .unwrap();
}

/// What one transaction saw.
#[derive(Debug)]
struct Seen {
    backend_pid: i32,
    user: String,
    tenant_setting: Option<String>,
    visible: i64,
    foreign: i64,
}

/// Runs the probe queries inside an open transaction. They are unnamed
/// (`persistent(false)`) so that they also run through PgBouncer < 1.21, which
/// cannot follow named prepared statements across server connections; the
/// transaction helpers under test (`tenant_tx`, `anonymous_tx`) use the simple
/// protocol and need no prepared statement at all.
async fn probe(conn: &mut sqlx::PgConnection, tenant: Option<Uuid>) -> Seen {
    let (backend_pid, user, tenant_setting): (i32, String, Option<String>) = sqlx::query_as(
        "SELECT pg_backend_pid(), current_user::text, NULLIF(current_setting('app.tenant_id', true), '')",
    )
    .persistent(false)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let foreign: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id IS DISTINCT FROM $1")
        .persistent(false)
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    Seen {
        backend_pid,
        user,
        tenant_setting,
        visible,
        foreign,
    }
}

/// The foundation's RLS properties, through PgBouncer, under concurrency: 32
/// clients × 15 interleaved transactions (tenant A, tenant B, no tenant, a
/// failing tenant transaction, and plain transactions where PgBouncer's
/// `connect_query` sets the role) over two server connections. Every transaction
/// runs as `tenantry_app` and sees exactly its own tenant's rows; a committed
/// insert lands in its own tenant; nothing set by one leaks into the next.
#[tokio::test]
async fn rls_isolation_holds_through_pgbouncer_transaction_pooling() {
    let app = TestApp::spawn().await;
    let Some(bouncer) = PgBouncer::start(&app.db).await else {
        return;
    };
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    for _ in 0..3 {
        insert_project(&app, a.id, "a-seed").await;
    }
    insert_project(&app, b.id, "b-seed").await;

    for alias in ["tenantry", "tenantry_plain"] {
        let db = Db::connect(&bouncer.url(alias), 32).await.unwrap();
        let pids = Arc::new(Mutex::new(BTreeSet::new()));
        let inserted = Arc::new(Mutex::new(HashMap::<Uuid, i64>::new()));
        let mut tasks = Vec::new();
        for client in 0..32 {
            let (db, pids, inserted) = (db.clone(), pids.clone(), inserted.clone());
            let (a_id, b_id) = (a.id, b.id);
            tasks.push(tokio::spawn(async move {
                for round in 0..15 {
                    let tenant = match (client + round) % 4 {
                        0 | 3 => Some(a_id),
                        1 => Some(b_id),
                        _ => None,
                    };
                    match tenant {
                        Some(t) => {
                            let mut tx = db.tenant_tx(TenantId::from_trusted(t)).await.unwrap();
                            let seen = probe(&mut tx, Some(t)).await;
                            assert_eq!(seen.user, "tenantry_app", "{alias}: {seen:?}");
                            assert_eq!(seen.tenant_setting, Some(t.to_string()), "{alias}: {seen:?}");
                            assert_eq!(seen.foreign, 0, "{alias}: another tenant's rows visible: {seen:?}");
                            assert!(seen.visible >= 1, "{alias}: own rows hidden: {seen:?}");
                            pids.lock().unwrap().insert(seen.backend_pid);
                            if (client + round) % 4 == 3 {
                                // A transaction that fails half-way: its settings must die with it.
                                let err =
                                    sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, 'x')")
                                        .persistent(false)
                                        .bind(b_id)
                                        .bind(Uuid::new_v4())
                                        .execute(&mut *tx)
                                        .await
                                        .unwrap_err();
                                assert!(err.to_string().contains("row-level security"), "{err}");
                                drop(tx);
                            } else {
                                sqlx::query("INSERT INTO projects (tenant_id, id, name) VALUES ($1, $2, 'concurrent')")
                                    .persistent(false)
                                    .bind(t)
                                    .bind(Uuid::new_v4())
                                    .execute(&mut *tx)
                                    .await
                                    .unwrap();
                                tx.commit().await.unwrap();
                                *inserted.lock().unwrap().entry(t).or_default() += 1;
                            }
                        }
                        None => {
                            // The anonymous helper; and, where PgBouncer sets the role on
                            // every server connection, a plain transaction as well (the
                            // foundation test's "no tenant set" case).
                            let raw = alias == "tenantry" && round % 2 == 0;
                            let mut tx = if raw {
                                db.pool().begin().await.unwrap()
                            } else {
                                db.anonymous_tx().await.unwrap()
                            };
                            let seen = probe(&mut tx, None).await;
                            assert_eq!(seen.user, "tenantry_app", "{alias}: {seen:?}");
                            assert_eq!(seen.tenant_setting, None, "{alias}: a tenant leaked in: {seen:?}");
                            assert_eq!(seen.visible, 0, "{alias}: rows visible without a tenant: {seen:?}");
                            pids.lock().unwrap().insert(seen.backend_pid);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await
                .unwrap_or_else(|e| panic!("{e}\npgbouncer log:\n{}", bouncer.log()));
        }

        // The 480 transactions really shared a handful of server connections.
        let pids = pids.lock().unwrap().clone();
        assert!(
            pids.len() <= POOL_SIZE,
            "{alias}: expected ≤ {POOL_SIZE} server connections, saw {pids:?}"
        );

        // Each committed insert landed in its own tenant, none elsewhere.
        let mut su = app.db.superuser().await;
        for t in [a.id, b.id] {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1 AND name = 'concurrent'")
                    .bind(t)
                    .fetch_one(&mut su)
                    .await
                    .unwrap();
            let expected = inserted.lock().unwrap().get(&t).copied().unwrap_or(0);
            assert_eq!(n, expected, "{alias}: tenant {t}");
        }
        sqlx::query("DELETE FROM projects WHERE name = 'concurrent'")
            .execute(&mut su)
            .await
            .unwrap();
        eprintln!(
            "{alias}: 480 interleaved transactions over {} server connection(s): no leak",
            pids.len()
        );

        db.pool().close().await;
    }
}
