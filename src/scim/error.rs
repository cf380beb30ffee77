//! SCIM errors (RFC 7644 §3.12): `{"schemas":[…Error], "status":"409",
//! "scimType":"uniqueness", "detail":"…"}` served as `application/scim+json`.
//! The kernel's problem+json middleware passes these through untouched.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::http::ApiError;

/// The SCIM media type of every response body under `/scim/v2`.
pub const SCIM_JSON: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An error answered to a SCIM client.
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    retry_after: Option<u64>,
}

pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }
    /// 400 with a `scimType` (`invalidFilter`, `invalidSyntax`, `invalidPath`,
    /// `noTarget`, `invalidValue`, `mutability`).
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found"))
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "Missing, invalid, expired or revoked SCIM token",
        )
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let retry_after = match &e {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let (scim_type, detail) = match e {
            ApiError::Internal(err) => {
                tracing::error!(error = ?format!("{err:#}"), "internal error");
                (None, "An internal error occurred".to_string())
            }
            ApiError::Validation(errors) => (
                Some("invalidValue"),
                errors
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => (None, other.to_string()),
        };
        // SCIM has no 422: a value the server refuses is a 400 invalidValue.
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        ScimError {
            status,
            scim_type,
            detail,
            retry_after,
        }
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.into();
        }
        let mut res = scim_response(self.status, &body);
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// A SCIM JSON response; a resource's `meta.version` is also its `ETag`.
pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(v) = body["meta"]["version"]
        .as_str()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::ETAG, v);
    }
    if let Some(v) = body["meta"]["location"]
        .as_str()
        .filter(|_| status == StatusCode::CREATED)
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::LOCATION, v);
    }
    res
}
