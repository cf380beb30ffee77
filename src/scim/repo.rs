//! SCIM's SQL: the User resource's rows and attribute columns, the Group
//! resource's attribute columns (its rows are `groups::repo`'s), list pages,
//! and the SCIM bearer tokens. Every function runs on the caller's tenant
//! transaction.

use sqlx::{Postgres, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    filter::{Bind, Column, Kind},
    tokens::ScimTokenView,
};
use crate::{
    crypto::token_hash,
    db::{TenantId, TenantTx},
};

/// A user as SCIM sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub scim_external_id: Option<String>,
    pub version: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub group_ids: Vec<Uuid>,
    pub group_names: Vec<String>,
}

pub const SELECT_USERS: &str = "\
SELECT u.id, u.email, u.first_name, u.last_name, u.is_active, u.scim_external_id, u.version,
       u.created_at, u.updated_at,
       ARRAY(SELECT g.id FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
             WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id ORDER BY g.display_name, g.id) AS group_ids,
       ARRAY(SELECT g.display_name FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
             WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id ORDER BY g.display_name, g.id) AS group_names
FROM users u";

/// The User attributes a filter or `sortBy` may name, and their columns.
pub fn user_column(attr: &str) -> Option<Column> {
    let plain = |expr, kind| Some(Column { expr, kind, wrap: None });
    match attr {
        "username" | "emails" | "emails.value" => plain("u.email", Kind::Text),
        "name.givenname" => plain("u.first_name", Kind::Text),
        "name.familyname" => plain("u.last_name", Kind::Text),
        "displayname" | "name.formatted" => plain("btrim(u.first_name || ' ' || u.last_name)", Kind::Text),
        "emails.type" => plain("'work'", Kind::Text),
        "emails.primary" => plain("true", Kind::Bool),
        "externalid" => plain("u.scim_external_id", Kind::ExactText),
        "id" => plain("u.id::text", Kind::ExactText),
        "active" => plain("u.is_active", Kind::Bool),
        "meta.created" => plain("u.created_at", Kind::Time),
        "meta.lastmodified" => plain("u.updated_at", Kind::Time),
        "groups" | "groups.value" => Some(Column {
            expr: "gm.group_id::text",
            kind: Kind::ExactText,
            wrap: Some(
                "EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id AND {cond})",
            ),
        }),
        _ => None,
    }
}

/// The Group attributes a filter or `sortBy` may name, and their columns.
pub fn group_column(attr: &str) -> Option<Column> {
    let plain = |expr, kind| Some(Column { expr, kind, wrap: None });
    match attr {
        "displayname" => plain("g.display_name", Kind::Text),
        "externalid" => plain("g.external_id", Kind::ExactText),
        "id" => plain("g.id::text", Kind::ExactText),
        "meta.created" => plain("g.created_at", Kind::Time),
        "meta.lastmodified" => plain("g.updated_at", Kind::Time),
        "members" | "members.value" => Some(Column {
            expr: "gm.user_id::text",
            kind: Kind::ExactText,
            wrap: Some(
                "EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = g.tenant_id AND gm.group_id = g.id AND {cond})",
            ),
        }),
        _ => None,
    }
}

/// The user, unless unknown, another tenant's, or deleted through SCIM.
pub async fn find_user(tx: &mut TenantTx, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_USERS} WHERE u.id = $1 AND u.scim_deleted_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// The user deleted through SCIM with this (lower-case) email.
pub async fn find_deleted_user(tx: &mut TenantTx, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_USERS} WHERE lower(u.email) = $1 AND u.scim_deleted_at IS NOT NULL"
    )))
    .bind(email)
    .fetch_optional(&mut **tx)
    .await
}

/// Whether a user other than `except` has this (lower-case) email.
pub async fn email_taken(tx: &mut TenantTx, email: &str, except: Option<Uuid>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1 AND id IS DISTINCT FROM $2)")
        .bind(email)
        .bind(except)
        .fetch_one(&mut **tx)
        .await
}

fn bind_all<'q, O>(
    mut q: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Bool(v) => q.bind(v),
            Bind::Time(t) => q.bind(t),
        };
    }
    q
}

/// One page of `select` (aliased rows, ending in `FROM …`) under `where_sql`
/// (`WHERE …` with `binds` as `$1…`), ordered by `order`: the rows and the
/// total.
pub async fn select_page<T>(
    tx: &mut TenantTx,
    select: &str,
    where_sql: &str,
    order: &str,
    binds: &[Bind],
    count: i64,
    offset: i64,
) -> Result<(Vec<T>, i64), sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let from = select.split_once("\nFROM ").map_or(select, |(_, from)| from);
    let count_sql = format!("SELECT count(*) FROM {from} {where_sql}");
    let (total,): (i64,) = bind_all(sqlx::query_as(sqlx::AssertSqlSafe(count_sql)), binds)
        .fetch_one(&mut **tx)
        .await?;
    let n = binds.len();
    let page_sql = format!(
        "{select} {where_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows: Vec<T> = bind_all(sqlx::query_as(sqlx::AssertSqlSafe(page_sql)), binds)
        .bind(count)
        .bind(offset)
        .fetch_all(&mut **tx)
        .await?;
    Ok((rows, total))
}

const VIEW_COLUMNS: &str = "id, name, prefix, expires_at, last_used_at, created_at";

/// A token to store: its hash and prefix, never the token.
pub struct NewToken<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub token: &'a str,
    pub prefix: &'a str,
    pub expires_at: Option<OffsetDateTime>,
    pub created_by: Uuid,
}

/// Stores a new token.
pub async fn insert_token(tx: &mut TenantTx, tenant: TenantId, t: &NewToken<'_>) -> Result<ScimTokenView, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO scim_tokens (tenant_id, id, name, token_hash, prefix, expires_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {VIEW_COLUMNS}"
    )))
    .bind(tenant.get())
    .bind(t.id)
    .bind(t.name)
    .bind(token_hash(t.token))
    .bind(t.prefix)
    .bind(t.expires_at)
    .bind(t.created_by)
    .fetch_one(&mut **tx)
    .await
}

/// The tenant's unrevoked tokens, newest first.
pub async fn list_tokens(tx: &mut TenantTx) -> Result<Vec<ScimTokenView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM scim_tokens WHERE revoked_at IS NULL ORDER BY created_at DESC, id"
    )))
    .fetch_all(&mut **tx)
    .await
}

/// Revokes the token; its name, or `None` when unknown or already revoked.
pub async fn revoke_token(tx: &mut TenantTx, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("UPDATE scim_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING name")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}
