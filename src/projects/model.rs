//! Project and document DTOs: what clients send and what they get back.

use serde::{Deserialize, Serialize};
use sqlx::{Column, Row, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::{AnyRow, Columns, FromRead},
    http::{ApiResult, error::Validator},
    pagination::PageParams,
};

/// Lifecycle of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    Active,
    OnHold,
    Completed,
    Archived,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::OnHold => "on_hold",
            Self::Completed => "completed",
            Self::Archived => "archived",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub status: String,
    pub version: i32,
    pub document_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
}

impl ProjectView {
    /// The columns, in the order every statement that reads a project selects
    /// them (`repo::PROJECT_COLUMNS`, the `tenant_read_project*` functions).
    pub const COLUMNS: [&str; 10] = [
        "id",
        "name",
        "description",
        "status",
        "version",
        "document_count",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    ];
}

/// Decoded by position: a page of projects is 200 values, and sqlx's lookup by
/// name hashes and compares the column name for each (~2 % of a list
/// request's CPU). Debug builds (the tests) check that the names match.
impl<'r> sqlx::FromRow<'r, PgRow> for ProjectView {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        debug_assert!(
            row.columns().len() >= Self::COLUMNS.len()
                && row
                    .columns()
                    .iter()
                    .zip(Self::COLUMNS)
                    .all(|(c, name)| c.name() == name),
            "a project's columns are selected in ProjectView::COLUMNS order: {:?}",
            row.columns().iter().map(|c| c.name()).collect::<Vec<_>>()
        );
        Self::from_read(&mut Columns::new(row))
    }
}

impl FromRead for ProjectView {
    fn from_read<R: AnyRow>(c: &mut Columns<'_, R>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: c.next()?,
            name: c.next()?,
            description: c.next()?,
            status: c.next()?,
            version: c.next()?,
            document_count: c.next()?,
            created_at: c.next()?,
            updated_at: c.next()?,
            created_by: c.next()?,
            updated_by: c.next()?,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<ProjectStatus>,
}

/// Partial update: absent fields keep their values.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProjectStatus>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectFilter {
    /// Case-insensitive match on name or description.
    pub search: Option<String>,
    pub status: Option<ProjectStatus>,
    /// `created_at`, `updated_at`, `name` or `status`; `-` prefix for descending.
    pub sort: Option<String>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub description: String,
    pub content_type: String,
    /// `draft` (metadata only), `pending` (upload URL issued) or `uploaded`.
    pub status: String,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub version: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub upload_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub uploaded_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewDocument {
    pub name: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DocumentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentFilter {
    pub project_id: Option<Uuid>,
    /// Case-insensitive match on name or description.
    pub search: Option<String>,
    /// `draft`, `pending` or `uploaded`.
    pub status: Option<String>,
    /// `created_at`, `updated_at`, `name` or `size_bytes`; `-` prefix for descending.
    pub sort: Option<String>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UploadRequest {
    pub project_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    pub document: DocumentView,
    /// PUT the bytes here (no bearer token; the URL is the credential).
    pub upload_url: String,
    pub upload_method: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UploadComplete {
    /// Lowercase hex SHA-256 the client computed; checked when given.
    pub sha256: Option<String>,
}

/// What the upload endpoint stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadReceipt {
    pub document_id: Uuid,
    pub size_bytes: u64,
    pub sha256: String,
}

/// `type/subtype` made of RFC 7230 token characters (no parameters).
pub fn valid_content_type(ct: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    ct.len() <= 255 && ct.split_once('/').is_some_and(|(t, s)| token(t) && token(s))
}

/// Trims and checks a name; `max` characters at most.
pub fn check_name(v: &mut Validator, field: &str, name: &str, max: usize) -> String {
    let name = name.trim().to_string();
    v.check(!name.is_empty(), field, "must not be empty");
    v.check(
        name.chars().count() <= max,
        field,
        format!("must be at most {max} characters"),
    );
    v.check(
        !name.chars().any(char::is_control),
        field,
        "must not contain control characters",
    );
    name
}

pub fn check_description(v: &mut Validator, description: &str) {
    v.check(
        description.chars().count() <= 10_000,
        "description",
        "must be at most 10000 characters",
    );
}

impl NewProject {
    /// Normalised name after validation.
    pub fn validate(&self) -> ApiResult<String> {
        let mut v = Validator::new();
        let name = check_name(&mut v, "name", &self.name, 200);
        if let Some(d) = &self.description {
            check_description(&mut v, d);
        }
        v.finish()?;
        Ok(name)
    }
}

impl ProjectChanges {
    pub fn validate(&mut self) -> ApiResult<()> {
        let mut v = Validator::new();
        if let Some(n) = &self.name {
            self.name = Some(check_name(&mut v, "name", n, 200));
        }
        if let Some(d) = &self.description {
            check_description(&mut v, d);
        }
        v.finish()
    }
}

impl DocumentChanges {
    pub fn validate(&mut self) -> ApiResult<()> {
        let mut v = Validator::new();
        if let Some(n) = &self.name {
            self.name = Some(check_name(&mut v, "name", n, 255));
        }
        if let Some(d) = &self.description {
            check_description(&mut v, d);
        }
        if let Some(ct) = &self.content_type {
            v.check(valid_content_type(ct), "content_type", "must look like type/subtype");
        }
        v.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(valid_content_type("application/pdf"));
        assert!(valid_content_type("image/svg+xml"));
        assert!(!valid_content_type("text/html; charset=utf-8"));
        assert!(!valid_content_type("nope"));
        assert!(!valid_content_type("a/"));
    }
}
