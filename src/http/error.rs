//! One error type for every handler, rendered as RFC 7807 problem+json.
//!
//! Features convert their failures into [`ApiError`] with `?`. A 5xx body is
//! generic; its cause is logged once, here.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

// Documentation only: bodies are built by `problem_body` and the problem middleware.
/// An RFC 7807 problem: the body of every error response.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `https://tenantry.dev/problems/<code>`, a stable code per kind of failure.
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    /// Echoes the request's `X-Request-ID`.
    request_id: Option<String>,
    /// Present on 422: the invalid fields.
    errors: Option<Vec<FieldError>>,
}

/// The outcomes a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Duplicate or state conflict; `extra` fields are merged into the problem body.
    #[error("{detail}")]
    Conflict { detail: String, extra: Option<Value> },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// An upstream provider (identity provider, email) failed.
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Unavailable(String),
    /// The server's own storage is full (507): retrying soon will not help.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            extra: None,
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(detail.into())
    }
    /// The single answer to every failed sign-in.
    pub fn invalid_credentials() -> Self {
        Self::Unauthorized("Invalid email or password".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code, the last segment of the problem `type`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict { .. } => "conflict",
            Self::PreconditionFailed(_) => "precondition-failed",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Validation(_) => "validation-error",
            Self::RateLimited { .. } => "rate-limited",
            Self::BadGateway(_) => "bad-gateway",
            Self::Unavailable(_) => "unavailable",
            Self::InsufficientStorage(_) => "insufficient-storage",
            Self::Internal(_) => "internal-error",
        }
    }
}

/// Builds a problem body; `request_id` is filled in by the middleware.
pub fn problem_body(status: StatusCode, code: &str, detail: &str) -> Value {
    json!({
        "type": format!("https://tenantry.dev/problems/{code}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    })
}

pub fn problem_response(status: StatusCode, body: Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            Self::Internal(e) => {
                tracing::error!(error = ?format!("{e:#}"), "internal error");
                "An internal error occurred".to_string()
            }
            Self::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("Invalid request: {}", fields.join(", "))
            }
            Self::RateLimited { retry_after_secs } => {
                format!("Too many requests; retry after {retry_after_secs} seconds")
            }
            other => other.to_string(),
        };
        let mut body = problem_body(status, self.code(), &detail);
        match &self {
            Self::Validation(errors) => body["errors"] = json!(errors),
            Self::Conflict {
                extra: Some(Value::Object(extra)),
                ..
            } => {
                for (k, v) in extra {
                    body[k] = v.clone();
                }
            }
            _ => {}
        }
        let mut res = problem_response(status, body);
        match self {
            Self::RateLimited { retry_after_secs } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
            }
            // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted.
            Self::Unauthorized(_) => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        res
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => return Self::NotFound("Resource not found".into()),
            sqlx::Error::PoolTimedOut => return Self::Unavailable("Database is busy; retry shortly".into()),
            // The database is down, restarting or unreachable: the client may retry.
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                tracing::warn!(error = %err, "database unreachable");
                return Self::Unavailable("Database is unavailable; retry shortly".into());
            }
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or_default().to_string();
                match db.code().as_deref() {
                    Some("23505") => return Self::conflict(unique_message(&constraint)),
                    Some("23503") => {
                        return Self::Validation(vec![FieldError::new(
                            constraint,
                            "refers to a resource that does not exist",
                        )]);
                    }
                    Some("23514") | Some("23502") | Some("22001") | Some("22P02") | Some("22007") | Some("22008")
                    | Some("22003") => {
                        return Self::Validation(vec![FieldError::new(
                            if constraint.is_empty() {
                                "request".into()
                            } else {
                                constraint
                            },
                            "has an invalid value",
                        )]);
                    }
                    // NUL or another character the database encoding cannot store.
                    Some("22021") => {
                        return Self::Validation(vec![FieldError::new("request", "contains an unsupported character")]);
                    }
                    Some("40001") | Some("40P01") => {
                        return Self::conflict("Concurrent update; retry the request");
                    }
                    // Class 08 (connection exception) and 57P (shutdown, crash
                    // recovery, terminated backend): the database is going away
                    // or coming back.
                    Some(code) if code.starts_with("08") || code.starts_with("57P") => {
                        tracing::warn!(error = %err, "database unavailable");
                        return Self::Unavailable("Database is unavailable; retry shortly".into());
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Self::Internal(err.into())
    }
}

fn unique_message(constraint: &str) -> String {
    match constraint {
        "users_tenant_email" => "A user with this email already exists in this tenant".into(),
        "tenants_slug_key" => "A tenant with this slug already exists".into(),
        "roles_tenant_id_name_key" => "A role with this name already exists".into(),
        "tenant_identity_providers_tenant_id_provider_key" => {
            "This identity provider is already configured for the tenant".into()
        }
        "invitations_open_email" => "An open invitation for this email already exists".into(),
        // An unmapped constraint's name is schema detail: it stays in the log.
        other => {
            if !other.is_empty() {
                tracing::warn!(constraint = other, "unique violation on an unmapped constraint");
            }
            "Resource already exists".into()
        }
    }
}

/// Collects field errors and fails with 422 when any were found.
#[derive(Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }
    /// Records `message` for `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, message: impl Into<String>) -> &mut Self {
        if !ok {
            self.0.push(FieldError::new(field, message));
        }
        self
    }
    pub fn push(&mut self, field: &str, message: impl Into<String>) -> &mut Self {
        self.0.push(FieldError::new(field, message));
        self
    }
    pub fn finish(&mut self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(std::mem::take(&mut self.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_not_500() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        for err in [refused, sqlx::Error::PoolClosed, sqlx::Error::PoolTimedOut] {
            let shown = format!("{err}");
            assert_eq!(ApiError::from(err).status(), StatusCode::SERVICE_UNAVAILABLE, "{shown}");
        }
        assert_eq!(
            ApiError::from(sqlx::Error::Protocol("unexpected message".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "a protocol error is still our bug"
        );
    }
}
