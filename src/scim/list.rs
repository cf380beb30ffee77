//! List requests (RFC 7644 §3.4.2): `filter`, `sortBy`/`sortOrder`,
//! `startIndex` (1-based), `count` (at most [`MAX_RESULTS`]), answered as a
//! `ListResponse`.
//!
//! Sorting (§3.4.2.3) uses the filter's attribute table: `sortBy` must name a
//! single-valued attribute a filter could name, and is compiled to that
//! attribute's fixed SQL expression (never to text from the request).
//! Case-insensitive strings sort by their lower-case form, all strings in
//! code-point order (`COLLATE "C"`: no locale); a missing value sorts last
//! when ascending, first when descending; ties keep the default order.

use axum::{http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::postgres::PgRow;

use super::{
    MAX_RESULTS,
    attributes::Projection,
    discovery::LIST_SCHEMA,
    error::{ScimError, ScimResult, scim_response},
    filter::{self, Column, Kind},
    repo,
};
use crate::db::TenantTx;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<String>,
    pub count: Option<String>,
    #[serde(rename = "sortBy")]
    pub sort_by: Option<String>,
    #[serde(rename = "sortOrder")]
    pub sort_order: Option<String>,
    #[serde(flatten)]
    pub projection: Projection,
}

/// The `ORDER BY` of a list: `sortBy` first (when given), then `default`.
fn order_by(params: &ListParams, default: &str, resolve: fn(&str) -> Option<Column>) -> ScimResult<String> {
    let Some(attr) = params.sort_by.as_deref().map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(default.to_string());
    };
    let column = resolve(&filter::normalise_attr(attr).to_ascii_lowercase())
        .filter(|c| c.wrap.is_none())
        .ok_or_else(|| ScimError::bad("invalidValue", format!("sortBy cannot sort on {attr}")))?;
    let direction = match params.sort_order.as_deref().map(str::trim) {
        None | Some("") => "ASC",
        Some(o) if o.eq_ignore_ascii_case("ascending") => "ASC",
        Some(o) if o.eq_ignore_ascii_case("descending") => "DESC",
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                "sortOrder must be ascending or descending",
            ));
        }
    };
    let key = match column.kind {
        Kind::Text => format!("lower({}) COLLATE \"C\"", column.expr),
        Kind::ExactText => format!("({}) COLLATE \"C\"", column.expr),
        Kind::Bool | Kind::Time => column.expr.to_string(),
    };
    Ok(format!("{key} {direction}, {default}"))
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

/// One page of `select` (aliased rows) under `base_where` and the request's
/// filter, ordered by `sortBy` and then `order`; with the total and the
/// effective startIndex.
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
    let order = order_by(params, order, resolve)?;
    let (cond, binds) = match params.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => filter::to_sql(&filter::parse(f)?, &resolve, 1)?,
        None => ("true".to_string(), Vec::new()),
    };
    let where_sql = format!("WHERE {base_where} AND ({cond})");
    let (rows, total) = repo::select_page(tx, select, &where_sql, &order, &binds, count, start - 1).await?;
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
