//! Row-Level Security: every tenant table FORCEs it with a policy, the server's
//! pool runs as a role that cannot bypass it, and it isolates tenants at SQL level.

use sqlx::{Acquire, Row};
use tenantry::db::TenantId;
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
