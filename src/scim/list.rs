//! List requests (RFC 7644 §3.4.2): `filter`, `startIndex` (1-based),
//! `count` (at most [`MAX_RESULTS`]), answered as a `ListResponse`.

use axum::{http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{Postgres, postgres::PgRow};

use super::{
    MAX_RESULTS,
    discovery::LIST_SCHEMA,
    error::{ScimError, ScimResult, scim_response},
    filter::{self, Bind, Column},
};
use crate::db::TenantTx;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<String>,
    pub count: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

impl ListParams {
    /// Whether `attr` is named in `excludedAttributes`.
    pub fn excludes(&self, attr: &str) -> bool {
        self.excluded_attributes
            .as_deref()
            .is_some_and(|list| list.split(',').any(|a| a.trim().eq_ignore_ascii_case(attr)))
    }
}

fn number(raw: Option<&str>, name: &str, default: i64) -> ScimResult<i64> {
    match raw {
        None | Some("") => Ok(default),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| ScimError::bad("invalidValue", format!("{name} must be an integer"))),
    }
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

/// One page of `select` (aliased rows) under `base_where` and the request's
/// filter, ordered by `order`; with the total and the effective startIndex.
pub async fn query_page<T>(
    tx: &mut TenantTx,
    select: &str,
    base_where: &str,
    order: &str,
    resolve: fn(&str) -> Option<Column>,
    params: &ListParams,
) -> ScimResult<(Vec<T>, i64, i64)>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let start = number(params.start_index.as_deref(), "startIndex", 1)?.max(1);
    let count = number(params.count.as_deref(), "count", MAX_RESULTS)?.clamp(0, MAX_RESULTS);
    let (cond, binds) = match params.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => filter::to_sql(&filter::parse(f)?, &resolve, 1)?,
        None => ("true".to_string(), Vec::new()),
    };
    let where_sql = format!("WHERE {base_where} AND ({cond})");
    let from = select.split_once("\nFROM ").map_or(select, |(_, from)| from);
    let count_sql = format!("SELECT count(*) FROM {from} {where_sql}");
    let (total,): (i64,) = bind_all(sqlx::query_as(sqlx::AssertSqlSafe(count_sql)), &binds)
        .fetch_one(&mut **tx)
        .await?;
    let n = binds.len();
    let page_sql = format!(
        "{select} {where_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows: Vec<T> = bind_all(sqlx::query_as(sqlx::AssertSqlSafe(page_sql)), &binds)
        .bind(count)
        .bind(start - 1)
        .fetch_all(&mut **tx)
        .await?;
    Ok((rows, total, start))
}

/// A `ListResponse` body.
pub fn list_response(items: Vec<Value>, total: i64, start: i64) -> Response {
    scim_response(
        StatusCode::OK,
        &json!({"schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": start,
                "itemsPerPage": items.len(), "Resources": items}),
    )
}
