//! Projects: CRUD with ETag/If-Match, filters and sort, the project limit under
//! concurrency, full-text search, activity, stats, and cross-tenant 404s over
//! every project, document and user route; documents/ holds their documents and
//! bytes.

mod crud;
mod document_counts;
mod documents;
mod isolation;
mod limits;
mod listing;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

pub async fn create_project(app: &TestApp, token: &str, name: &str, description: &str) -> Value {
    let r = app
        .post(
            "/api/v1/projects",
            token,
            json!({"name": name, "description": description}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}
