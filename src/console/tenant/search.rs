//! `/projects/search`: full-text search over projects and documents through
//! the API's `search` (document hits only with documents:read), best first,
//! with the matched words in bold.

use axum::{extract::Query, response::Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::refused;
use crate::{
    console::{
        render::{self, Frame},
        session::Console,
    },
    http::extract::ApiJson,
    projects::insights::{self, SearchRequest},
    rbac::perm,
};

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    /// `projects`, `documents`, or empty for both.
    #[serde(default)]
    kind: String,
}

#[derive(Serialize)]
struct Hit {
    kind: String,
    name: String,
    href: String,
    status: String,
    /// HTML: escaped text with `<b>` around matches (see [`is_bold_only`]).
    snippet: String,
}

#[derive(Serialize)]
struct SearchView {
    frame: Frame,
    q: String,
    kind: String,
    hits: Option<Vec<Hit>>,
}

/// True when `html` has no markup but `<b>`/`</b>`: the API escapes
/// everything else, and this is checked again before the page marks the
/// snippet safe, so a future change there cannot inject markup here.
fn is_bold_only(html: &str) -> bool {
    !html.replace("<b>", "").replace("</b>", "").contains(['<', '>'])
}

pub async fn search_page(me: Console<perm::ProjectsRead>, Query(q): Query<SearchQuery>) -> Response {
    let frame = me.frame("/projects/search");
    let query = q.q.trim().to_string();
    let hits = if query.is_empty() {
        None
    } else {
        let types = match q.kind.as_str() {
            "projects" | "documents" => Some(vec![q.kind.clone()]),
            _ => None,
        };
        let request = SearchRequest {
            query,
            types,
            limit: Some(50),
        };
        let results = match insights::search(me.authz, ApiJson(request)).await {
            Ok(ApiJson(r)) => r,
            Err(e) => return refused(e),
        };
        Some(
            results
                .items
                .into_iter()
                .map(|h| {
                    let project: Uuid = h.project_id.unwrap_or(h.id);
                    Hit {
                        href: format!("/projects/{project}"),
                        snippet: if is_bold_only(&h.snippet) {
                            h.snippet
                        } else {
                            String::new()
                        },
                        kind: h.kind,
                        name: h.name,
                        status: h.status,
                    }
                })
                .collect(),
        )
    };
    render::ok(
        "tenant_search.html",
        SearchView {
            frame,
            q: q.q,
            kind: q.kind,
            hits,
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_bold_markup_passes() {
        assert!(super::is_bold_only("<b>Road</b>map &lt;img&gt; &amp; co"));
        assert!(!super::is_bold_only("<b>x</b><img src=x>"));
        assert!(!super::is_bold_only("<b onclick=x>y</b>"));
    }
}
