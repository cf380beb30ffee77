//! The tenant's work and oversight pages, one file per page family:
//!
//! - [`import`]: the CSV import on the invite page (accounts created by the
//!   API's `bulk_create`, in batches the browser sends while a progress bar
//!   moves; without JavaScript, one form post).
//! - [`projects`]: the project list (search, status filter, paging), a
//!   project's page with its documents, creating a project.
//! - [`documents`]: the two-step signed-URL upload driven from the browser,
//!   download, deletion behind a confirmation.
//! - [`search`]: full-text search with highlighted hits.
//! - [`audit`]: the audit log (filters, paging), one row's old → new values as
//!   a diff, and "Verify chain".
//! - [`overview`]: users, projects and storage against the tenant's limits.
//!
//! As in [`admin`](super::admin), every page takes the `Authz<perm::X>` its API
//! route takes and calls that route's handler or service function; a page
//! needing a second permission opens a second tenant transaction for the
//! second handler rather than reading the tables itself.

mod audit;
mod documents;
mod import;
mod overview;
mod projects;
mod search;

use axum::{
    Router,
    response::Response,
    routing::{get, post},
};

use crate::{
    app::AppState,
    auth::{AuthCtx, Authz},
    http::ApiError,
    rbac::Required,
};

/// The routes (CSRF-checked with the rest of the console).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/import", post(import::import_submit))
        .route("/admin/users/import/parse", post(import::parse_submit))
        .route("/admin/users/import/rows", post(import::rows_submit))
        .route("/projects", get(projects::list_page))
        .route("/projects/new", get(projects::new_page).post(projects::create_submit))
        .route("/projects/search", get(search::search_page))
        .route("/projects/{id}", get(projects::project_page))
        .route("/projects/{id}/uploads", post(documents::upload_start))
        .route(
            "/projects/documents/{id}/upload-complete",
            post(documents::upload_complete),
        )
        .route("/projects/documents/{id}/download", get(documents::download))
        .route(
            "/projects/documents/{id}/delete",
            get(documents::delete_page).post(documents::delete_submit),
        )
        .route("/audit", get(audit::list_page))
        .route("/audit/verify", post(audit::verify_submit))
        .route("/audit/{id}", get(audit::row_page))
        .route("/overview", get(overview::overview_page))
}

/// A second handler's `Authz` for the same caller, in a fresh tenant
/// transaction (each API handler commits or drops the one it is given).
async fn another<P: Required>(state: &AppState, ctx: &AuthCtx) -> Result<Authz<P>, ApiError> {
    let tx = state.db.tenant_tx(ctx.tenant_id).await?;
    Authz::checked(ctx.clone(), tx)
}

/// Previous/next links of a paged table.
#[derive(serde::Serialize)]
struct Pager {
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
}

impl Pager {
    /// `href(n)` is the listing's URL on page `n`.
    fn new(page: i64, total: i64, page_size: i64, href: impl Fn(i64) -> String) -> Self {
        let pages = ((total + page_size - 1) / page_size).max(1);
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
        }
    }
}

/// `path?query` from the non-empty pairs, plus `page` when past the first.
fn href(path: &str, pairs: &[(&str, &str)], page: i64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    if page > 1 {
        q.append_pair("page", &page.to_string());
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// Bytes as a person reads them (binary units, one decimal).
fn human_bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An API refusal as a page (the admin pages' own wording).
fn refused(e: ApiError) -> Response {
    super::admin::refused(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_filters_and_pages() {
        assert_eq!(href("/projects", &[("search", ""), ("status", "")], 1), "/projects");
        assert_eq!(
            href("/projects", &[("search", "a b&c"), ("status", "active")], 3),
            "/projects?search=a+b%26c&status=active&page=3"
        );
        let p = Pager::new(2, 51, 25, |n| format!("/x?page={n}"));
        assert_eq!(
            (p.pages, p.prev.as_deref(), p.next.as_deref()),
            (3, Some("/x?page=1"), Some("/x?page=3"))
        );
        let p = Pager::new(1, 0, 25, |n| n.to_string());
        assert_eq!((p.pages, p.prev, p.next), (1, None, None));
    }

    #[test]
    fn bytes_read_like_a_person_says_them() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 * 1024 * 1024 * 1024), "10.0 GiB");
    }
}
