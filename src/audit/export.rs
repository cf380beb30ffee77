//! Audit export: every matching row of the trail, with its chain fields
//! (`seq`, `prev_hash`, `hash`, `actor_principal`), streamed as NDJSON or CSV
//! so a SIEM can keep and verify the chain (`tenantry audit verify`).
//!
//! Constant memory: the rows come from a database cursor (`fetch`) inside the
//! caller's transaction, which a task owns for as long as the response body is
//! being sent; a bounded channel carries encoded rows to the body, so a slow
//! client slows the cursor instead of filling memory. No Content-Length.
//! A client that goes away ends the task, which rolls the transaction back.

use std::ops::DerefMut;

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// `format` of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Ndjson,
    Csv,
}

/// Filters of both exports (`tenant_id` is the super admin's only).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFilter {
    /// `ndjson` (default) or `csv`.
    #[serde(default)]
    pub format: ExportFormat,
    /// One tenant (super-admin export); every tenant when absent.
    pub tenant_id: Option<Uuid>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    /// RFC 3339; a date-time without offset is UTC, a bare date is its midnight UTC.
    #[serde(default, deserialize_with = "crate::pagination::query_instant")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "crate::pagination::query_instant")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
}

/// One exported row. `created_at` is UTC with microseconds (exactly what the
/// chain hashes, plus `Z`); hashes are hex.
#[derive(Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct ExportRow {
    pub tenant_id: Uuid,
    pub seq: i64,
    pub id: Uuid,
    pub created_at: String,
    pub actor_id: Option<Uuid>,
    pub impersonator_id: Option<Uuid>,
    pub actor_principal: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// `jsonb` text exactly as PostgreSQL prints it: the digest hashes that
    /// text, and a parsed value would lose it (`1.50` would become `1.5`).
    pub old_values: Option<Box<RawValue>>,
    pub new_values: Option<Box<RawValue>>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The CSV header: the columns of [`ExportRow`], in order.
pub const CSV_COLUMNS: [&str; 17] = [
    "tenant_id",
    "seq",
    "id",
    "created_at",
    "actor_id",
    "impersonator_id",
    "actor_principal",
    "action",
    "resource_type",
    "resource_id",
    "old_values",
    "new_values",
    "ip_address",
    "user_agent",
    "request_id",
    "prev_hash",
    "hash",
];

const EXPORT_SQL: &str = "\
SELECT tenant_id, seq, id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at,
       actor_id, impersonator_id, actor_principal, action, resource_type, resource_id, old_values, new_values,
       ip_address, user_agent, request_id, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash
FROM audit_logs
WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR action = $2)
  AND ($3::text IS NULL OR resource_type = $3)
  AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at <= $5)
ORDER BY tenant_id, seq";

/// Rows per channel slot in flight: the bound on memory held for a slow client.
const IN_FLIGHT: usize = 16;

/// Streams the rows `filter` matches, read on `conn` (a tenant or platform
/// transaction, moved into the streaming task and dropped — rolled back — at
/// the end).
pub fn stream<C>(mut conn: C, filter: ExportFilter) -> Response
where
    C: DerefMut<Target = PgConnection> + Send + 'static,
{
    let format = filter.format;
    let (mut out, body) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(IN_FLIGHT);
    tokio::spawn(async move {
        if format == ExportFormat::Csv
            && out
                .send(Ok(Bytes::from(csv_line(&CSV_COLUMNS.map(Some)))))
                .await
                .is_err()
        {
            return;
        }
        let mut rows = sqlx::query_as::<_, ExportRow>(EXPORT_SQL)
            .bind(filter.tenant_id)
            .bind(&filter.action)
            .bind(&filter.resource_type)
            .bind(filter.from)
            .bind(filter.to)
            .fetch(&mut *conn);
        while let Some(row) = rows.next().await {
            let chunk = match row {
                Ok(row) => Ok(Bytes::from(encode(&row, format))),
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed");
                    Err(std::io::Error::other("audit export failed"))
                }
            };
            let failed = chunk.is_err();
            if out.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    let (content_type, file) = match format {
        ExportFormat::Ndjson => ("application/x-ndjson", "audit-export.ndjson"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "audit-export.csv"),
    };
    let disposition = format!("attachment; filename=\"{file}\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("static file name"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn encode(row: &ExportRow, format: ExportFormat) -> String {
    match format {
        ExportFormat::Ndjson => {
            let mut line = serde_json::to_string(row).expect("a row serialises");
            line.push('\n');
            line
        }
        ExportFormat::Csv => {
            let json = |v: &Option<Box<RawValue>>| v.as_ref().map(|v| v.get().to_string());
            let uuid = |v: Option<Uuid>| v.map(|v| v.to_string());
            let fields = [
                Some(row.tenant_id.to_string()),
                Some(row.seq.to_string()),
                Some(row.id.to_string()),
                Some(row.created_at.clone()),
                uuid(row.actor_id),
                uuid(row.impersonator_id),
                row.actor_principal.clone(),
                Some(row.action.clone()),
                Some(row.resource_type.clone()),
                row.resource_id.clone(),
                json(&row.old_values),
                json(&row.new_values),
                row.ip_address.clone(),
                row.user_agent.clone(),
                row.request_id.clone(),
                Some(row.prev_hash.clone()),
                Some(row.hash.clone()),
            ];
            csv_line(&fields)
        }
    }
}

/// One RFC 4180 record ending in CRLF: a field holding `,`, `"`, CR or LF is
/// quoted with inner quotes doubled; an absent value (NULL) is an empty field
/// and an empty string is `""`, as PostgreSQL's `COPY … CSV` writes them.
fn csv_line<S: AsRef<str>>(fields: &[Option<S>]) -> String {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let Some(field) = field else { continue };
        let field = field.as_ref();
        if field.is_empty() || field.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let line = csv_line(&[
            Some("plain"),
            None,
            Some("a,b"),
            Some("say \"hi\""),
            Some("two\nlines"),
            Some(""),
        ]);
        assert_eq!(line, "plain,,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"\"\r\n");
    }
}
