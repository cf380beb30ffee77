//! Tenant lifecycle: creation (atomic, with system roles and first admin),
//! validation, listing, update rules, deactivation, deletion and stats.

mod creation;
mod identity_providers;
mod listing;
mod removal;
mod seed;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const ADMIN_PASSWORD: &str = "Tenant-Admin-Secret-42!";

fn new_tenant(slug: &str) -> Value {
    json!({
        "name": format!("Tenant {slug}"), "slug": slug, "admin_email": format!("boss@{slug}.test"),
        "admin_first_name": "Bo", "admin_last_name": "Ss", "admin_password": ADMIN_PASSWORD,
        "settings": {"theme": "dark"}, "limits": {"max_users": 7, "max_projects": 3},
    })
}

async fn count(app: &TestApp, sql: &str, id: Uuid) -> i64 {
    let mut c = app.db.superuser().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(id)
        .fetch_one(&mut c)
        .await
        .unwrap()
}
