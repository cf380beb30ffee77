//! Read-only views across projects and documents: full-text search, the
//! activity feed (from the audit log) and usage statistics.
//!
//! Decisions:
//! - Search and activity need `projects:read`; their document hits and entries
//!   also need `documents:read` (a caller without it sees projects only, as if
//!   no document matched), so the feed never shows what `GET /documents` hides.
//! - A `snippet` is HTML whose stored text is escaped: PostgreSQL's
//!   `ts_headline` marks matches with two private-use characters (stripped from
//!   the stored text first), the excerpt is HTML-escaped, then the markers
//!   become `<b>`/`</b>`. So `<b>` is the only markup in it, whatever a
//!   description holds; render it as HTML or strip the tags for text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    auth::Authz,
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ApiQuery},
    },
    pagination::{Page, PageParams},
    rbac::{Permission, perm},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SearchRequest {
    /// Web-search syntax: words, `"quoted phrases"`, `or`, `-excluded`.
    pub query: String,
    /// `projects` and/or `documents` (singular accepted); both when absent or empty.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// At most this many results (default 20, max 100).
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SearchHit {
    /// `project` or `document`.
    #[serde(rename = "type")]
    #[sqlx(rename = "kind")]
    pub kind: String,
    pub id: Uuid,
    /// The document's project (documents only).
    pub project_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub status: String,
    /// An excerpt of the description as HTML: the stored text is HTML-escaped
    /// (`<`, `>`, `&`, `"`, `'`), and matches are wrapped in `<b>…</b>`, the
    /// only markup it contains.
    pub snippet: String,
    pub rank: f32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub query: String,
    pub total: usize,
    pub items: Vec<SearchHit>,
}

/// Private-use characters `ts_headline` puts around matches; removed from the
/// stored text first, so after escaping only they can become markup.
const MATCH_START: char = '\u{E000}';
const MATCH_STOP: char = '\u{E001}';

/// The `ts_headline` excerpt as safe HTML: everything escaped, then the match
/// markers turned into `<b>`/`</b>`.
fn snippet_html(headline: &str) -> String {
    let mut out = String::with_capacity(headline.len() + 16);
    for c in headline.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            MATCH_START => out.push_str("<b>"),
            MATCH_STOP => out.push_str("</b>"),
            c => out.push(c),
        }
    }
    out
}

/// Ranked full-text search over project and document names (weight A) and
/// descriptions (weight B), on the stored `tsvector` columns and their GIN indexes.
/// Document hits need `documents:read` as well.
#[utoipa::path(post, path = "/search", tag = "projects", security(("bearer" = ["projects:read"])),
    request_body = SearchRequest,
    responses((status = 200, body = SearchResults,
        description = "Hits, best first. `snippet` is HTML whose stored text is escaped; `<b>…</b>` around \
            matches is its only markup. Documents only for callers holding documents:read."),
        (status = 422, description = "Empty query or unknown type")))]
pub async fn search(
    Authz { ctx, mut tx, .. }: Authz<perm::ProjectsRead>,
    ApiJson(input): ApiJson<SearchRequest>,
) -> ApiResult<ApiJson<SearchResults>> {
    let query = input.query.trim().to_string();
    if query.is_empty() || query.chars().count() > 500 {
        return Err(ApiError::invalid("query", "must be between 1 and 500 characters"));
    }
    // `project`/`document` (the hits' own `type`) are accepted too; none means both.
    let mut types = Vec::new();
    for t in input.types.unwrap_or_default() {
        match t.trim().to_ascii_lowercase().as_str() {
            "projects" | "project" => types.push("projects"),
            "documents" | "document" => types.push("documents"),
            _ => {
                return Err(ApiError::invalid(
                    "types",
                    format!("`{t}` is not one of projects, documents"),
                ));
            }
        }
    }
    if types.is_empty() {
        types = vec!["projects", "documents"];
    }
    let documents = types.contains(&"documents") && ctx.has(Permission::DocumentsRead);
    let limit = input.limit.unwrap_or(20).clamp(1, 100);
    let mut items: Vec<SearchHit> = sqlx::query_as(
        "WITH q AS (SELECT websearch_to_tsquery('english', $1) AS q), \
         hits AS ( \
           SELECT 'project' AS kind, p.id, NULL::uuid AS project_id, p.name, p.description, p.status, \
                  ts_rank(p.search, q.q) AS rank, p.updated_at \
           FROM projects p, q WHERE $2 AND p.search @@ q.q \
           UNION ALL \
           SELECT 'document', d.id, d.project_id, d.name, d.description, d.status, \
                  ts_rank(d.search, q.q), d.updated_at \
           FROM documents d, q WHERE $3 AND d.search @@ q.q \
           ORDER BY rank DESC, updated_at DESC LIMIT $4) \
         SELECT h.kind, h.id, h.project_id, h.name, h.description, h.status, h.rank, \
                ts_headline('english', translate(h.description, $5, ''), q.q, \
                    'StartSel=' || substr($5, 1, 1) || ', StopSel=' || substr($5, 2, 1) || \
                    ', MaxWords=25, MinWords=8, MaxFragments=2') AS snippet \
         FROM hits h, q ORDER BY h.rank DESC, h.updated_at DESC",
    )
    .bind(&query)
    .bind(types.contains(&"projects"))
    .bind(documents)
    .bind(limit)
    .bind(String::from_iter([MATCH_START, MATCH_STOP]))
    .fetch_all(&mut *tx)
    .await?;
    for hit in &mut items {
        hit.snippet = snippet_html(&hit.snippet);
    }
    Ok(ApiJson(SearchResults {
        query,
        total: items.len(),
        items,
    }))
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ActivityEntry {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub impersonator_id: Option<Uuid>,
    pub old_values: Option<serde_json::Value>,
    pub new_values: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityFilter {
    /// `project` or `document`; both when absent.
    pub resource_type: Option<String>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

/// Recent project and document events from the audit log, newest first.
/// Document entries need `documents:read` as well.
#[utoipa::path(get, path = "/activity", tag = "projects", security(("bearer" = ["projects:read"])),
    params(ActivityFilter), responses((status = 200, body = Page<ActivityEntry>,
        description = "Newest first; document entries only for callers holding documents:read")))]
pub async fn activity(
    Authz { ctx, mut tx, .. }: Authz<perm::ProjectsRead>,
    ApiQuery(f): ApiQuery<ActivityFilter>,
) -> ApiResult<ApiJson<Page<ActivityEntry>>> {
    let mut types: Vec<&str> = match f.resource_type.as_deref() {
        None => vec!["project", "document"],
        Some(t @ ("project" | "document")) => vec![t],
        Some(_) => {
            return Err(ApiError::invalid("resource_type", "must be project or document"));
        }
    };
    if !ctx.has(Permission::DocumentsRead) {
        types.retain(|t| *t != "document");
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE resource_type = ANY($1)")
        .bind(&types)
        .fetch_one(&mut *tx)
        .await?;
    let items = sqlx::query_as(
        "SELECT a.id, a.created_at, a.action, a.resource_type, a.resource_id, a.actor_id, u.email AS actor_email, \
         a.impersonator_id, a.old_values, a.new_values \
         FROM audit_logs a LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.actor_id \
         WHERE a.resource_type = ANY($1) ORDER BY a.created_at DESC, a.seq DESC LIMIT $2 OFFSET $3",
    )
    .bind(&types)
    .bind(f.page.limit())
    .bind(f.page.offset())
    .fetch_all(&mut *tx)
    .await?;
    Ok(ApiJson(f.page.wrap(items, total)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectStats {
    pub projects: ProjectCounts,
    pub documents: DocumentStats,
    pub storage: StorageQuota,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectCounts {
    pub total: i64,
    pub limit: i64,
    pub by_status: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DocumentStats {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_content_type: Vec<ContentTypeCount>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ContentTypeCount {
    pub content_type: String,
    pub count: i64,
    pub bytes: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StorageQuota {
    /// Bytes of uploaded documents plus reservations of pending uploads.
    pub used_bytes: i64,
    pub limit_bytes: i64,
    pub available_bytes: i64,
    pub percent_used: f64,
}

/// Counts by status, documents by content type, storage used against the limit.
#[utoipa::path(get, path = "/stats", tag = "projects", security(("bearer" = ["projects:read"])),
    responses((status = 200, body = ProjectStats)))]
pub async fn stats(Authz { ctx, mut tx, .. }: Authz<perm::ProjectsRead>) -> ApiResult<ApiJson<ProjectStats>> {
    let (max_projects, limit_bytes, used_bytes): (i32, i64, i64) =
        sqlx::query_as("SELECT max_projects, max_storage_bytes, storage_used_bytes FROM tenants WHERE id = $1")
            .bind(ctx.tenant_id.get())
            .fetch_one(&mut *tx)
            .await?;
    let mut projects: BTreeMap<String, i64> = ["active", "on_hold", "completed", "archived"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, count(*) FROM projects GROUP BY status")
        .fetch_all(&mut *tx)
        .await?;
    projects.extend(rows);
    let mut documents: BTreeMap<String, i64> = ["draft", "pending", "uploaded"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, count(*) FROM documents GROUP BY status")
        .fetch_all(&mut *tx)
        .await?;
    documents.extend(rows);
    let by_content_type: Vec<ContentTypeCount> = sqlx::query_as(
        "SELECT content_type, count(*) AS count, COALESCE(sum(size_bytes) FILTER (WHERE status = 'uploaded'), 0)::bigint AS bytes \
         FROM documents GROUP BY content_type ORDER BY count(*) DESC, content_type",
    )
    .fetch_all(&mut *tx)
    .await?;
    let percent_used = if limit_bytes > 0 {
        (used_bytes as f64 / limit_bytes as f64 * 10_000.0).round() / 100.0
    } else {
        0.0
    };
    Ok(ApiJson(ProjectStats {
        projects: ProjectCounts {
            total: projects.values().sum(),
            limit: max_projects.into(),
            by_status: projects,
        },
        documents: DocumentStats {
            total: documents.values().sum(),
            by_status: documents,
            by_content_type,
        },
        storage: StorageQuota {
            used_bytes,
            limit_bytes,
            available_bytes: (limit_bytes - used_bytes).max(0),
            percent_used,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_escape_stored_markup_and_keep_only_match_tags() {
        let headline = format!("{MATCH_START}Roadmap{MATCH_STOP} <img src=x onerror=\"a('1')\"> & co");
        assert_eq!(
            snippet_html(&headline),
            "<b>Roadmap</b> &lt;img src=x onerror=&quot;a(&#x27;1&#x27;)&quot;&gt; &amp; co"
        );
    }
}
