//! Extractors whose rejections are problem+json: malformed JSON → 400, wrong
//! content type → 415, oversized body → 413, invalid fields → 422 naming the field.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    client_ip::ProxyPolicy,
    error::{ApiError, FieldError},
};

/// JSON body in, JSON body out.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // A body without any Content-Type is read as JSON, as most JSON APIs do;
        // a different declared type is refused.
        let is_json = match req.headers().get(header::CONTENT_TYPE) {
            None => true,
            Some(v) => v.to_str().ok().and_then(|v| v.split(';').next()).is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            }),
        };
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "Expected a body with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("Request body is too large".into())
            } else {
                ApiError::BadRequest(format!("Could not read the request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, telling syntax errors (400) from type errors (422 with the field path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // PostgreSQL text cannot hold NUL: refuse it here, naming the field, rather
    // than failing at the database. Only bodies spelling the escape are walked.
    if bytes.windows(6).any(|w| w == br"\u0000")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = nul_path(&value)
    {
        let field = if path.is_empty() { "body".to_string() } else { path };
        return Err(ApiError::Validation(vec![FieldError::new(field, NUL_MESSAGE)]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." { "body".to_string() } else { path };
                    Err(ApiError::Validation(vec![FieldError::new(
                        field,
                        strip_position(&inner.to_string()),
                    )]))
                }
                _ => Err(ApiError::BadRequest(format!("Malformed JSON: {inner}"))),
            }
        }
    }
}

const NUL_MESSAGE: &str = "must not contain NUL characters";

/// The path (`users[0].email`) of the first string holding a NUL character.
fn nul_path(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v).map(|rest| format!("[{i}]{}", dotted(&rest)))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            nul_path(v).map(|rest| {
                if rest.is_empty() {
                    k.clone()
                } else {
                    format!("{k}{}", dotted(&rest))
                }
            })
        }),
        _ => None,
    }
}

fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_string()
    } else {
        format!(".{rest}")
    }
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query string, rejected as 422 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut pairs = form_urlencoded::parse(query.as_bytes());
        if let Some((name, _)) = pairs.find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::invalid(name.replace('\0', ""), NUL_MESSAGE));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|err| {
            let field = err.path().to_string();
            let field = if field == "." {
                unparsable_page_param(query).unwrap_or("query").to_string()
            } else {
                field
            };
            ApiError::Validation(vec![FieldError::new(field, err.into_inner().to_string())])
        })
    }
}

/// `#[serde(flatten)]`ed [`PageParams`](crate::pagination::PageParams) lose the
/// parameter's name in errors; find which of `page`/`page_size` is not an integer.
fn unparsable_page_param(query: &str) -> Option<&'static str> {
    form_urlencoded::parse(query.as_bytes()).find_map(|(k, v)| match k.as_ref() {
        "page" if v.trim().parse::<i64>().is_err() => Some("page"),
        "page_size" if v.trim().parse::<i64>().is_err() => Some("page_size"),
        _ => None,
    })
}

/// Path parameters; a malformed id is 422, like any other invalid input.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.path().contains("%00") {
            return Err(ApiError::invalid("path", NUL_MESSAGE));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::Validation(vec![FieldError::new("path", e.body_text())]))
    }
}

/// Who is calling from where: for audit rows, login history and rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(client_meta(parts))
    }
}

/// Reads the client's address (from X-Forwarded-For only behind a trusted proxy,
/// see [`super::client_ip`]), user agent and request id.
pub fn client_meta(parts: &Parts) -> ClientMeta {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let ip = match parts.extensions.get::<ProxyPolicy>() {
        Some(policy) => policy.client_ip(peer, forwarded),
        None => peer.map(|p| p.to_canonical()),
    };
    ClientMeta {
        ip: ip.map(|ip| ip.to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}
