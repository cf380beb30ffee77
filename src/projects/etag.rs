//! Optimistic concurrency: a resource's `version` travels as a strong `ETag`
//! (`"3"`), and a write carrying a stale `If-Match` is refused with 412 instead
//! of silently overwriting someone else's change. [`VersionedUpdate`] is the
//! one sequence every versioned update follows.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    audit::{self, AuditEvent},
    auth::AuthCtx,
    db::TenantTx,
    http::{ApiError, ApiResult, extract::ApiJson},
};

/// A resource whose `version` column is its `ETag`.
pub trait Versioned: Serialize + Sized + Send {
    fn version(&self) -> i32;
    /// Reads the resource (404 when absent), locked `FOR UPDATE` when `lock`.
    fn load(tx: &mut TenantTx, id: Uuid, lock: bool) -> impl Future<Output = Result<Self, ApiError>> + Send;
}

/// The one update sequence of a versioned resource: [`begin`](Self::begin)
/// reads it locked and checks `If-Match` (412); the caller writes through
/// [`parts`](Self::parts); [`finish`](Self::finish) reads it again, records the
/// audit row, commits and answers the new state with its `ETag`.
pub struct VersionedUpdate<T> {
    tx: TenantTx,
    id: Uuid,
    old: T,
}

impl<T: Versioned> VersionedUpdate<T> {
    pub async fn begin(mut tx: TenantTx, id: Uuid, if_match: &IfMatch) -> Result<Self, ApiError> {
        let old = T::load(&mut tx, id, true).await?;
        if_match.check(old.version())?;
        Ok(Self { tx, id, old })
    }

    /// The transaction to write in, and the state before the write.
    pub fn parts(&mut self) -> (&mut TenantTx, &T) {
        (&mut self.tx, &self.old)
    }

    /// `audit(old, new)` is the row recorded for the change.
    pub async fn finish(
        mut self,
        ctx: &AuthCtx,
        audit: impl FnOnce(&T, &T) -> AuditEvent,
    ) -> ApiResult<(HeaderMap, ApiJson<T>)> {
        let new = T::load(&mut self.tx, self.id, false).await?;
        audit::record(&mut self.tx, ctx.tenant_id, &ctx.actor(), audit(&self.old, &new)).await?;
        self.tx.commit().await?;
        Ok((etag_headers(new.version()), ApiJson(new)))
    }
}

/// The `ETag` value for a version.
pub fn etag(version: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits and quotes are valid header characters")
}

/// A header map holding just the `ETag` of `version`.
pub fn etag_headers(version: i32) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::ETAG, etag(version));
    h
}

/// The request's `If-Match` precondition, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IfMatch {
    /// No header: the write is unconditional.
    #[default]
    Absent,
    /// `*`: any current version.
    Any,
    /// The versions the client believes current; unparseable tags never match.
    Versions(Vec<i32>),
}

impl IfMatch {
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        if value == "*" {
            return Self::Any;
        }
        Self::Versions(
            value
                .split(',')
                .filter_map(|tag| {
                    let tag = tag.trim();
                    let tag = tag.strip_prefix("W/").unwrap_or(tag);
                    tag.trim_matches('"').parse().ok()
                })
                .collect(),
        )
    }

    /// 412 unless `current` satisfies the precondition.
    pub fn check(&self, current: i32) -> Result<(), ApiError> {
        match self {
            Self::Absent | Self::Any => Ok(()),
            Self::Versions(v) if v.contains(&current) => Ok(()),
            Self::Versions(_) => Err(ApiError::PreconditionFailed(format!(
                "The resource was changed by someone else (current version {current}); reload and retry"
            ))),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(match parts.headers.get(header::IF_MATCH) {
            None => Self::Absent,
            Some(v) => Self::parse(v.to_str().unwrap_or("")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strong_weak_lists_and_star() {
        assert_eq!(IfMatch::parse("\"3\""), IfMatch::Versions(vec![3]));
        assert_eq!(IfMatch::parse("W/\"3\", \"4\""), IfMatch::Versions(vec![3, 4]));
        assert_eq!(IfMatch::parse("*"), IfMatch::Any);
        assert!(IfMatch::parse("\"abc\"").check(1).is_err());
        assert!(IfMatch::parse("\"2\"").check(2).is_ok());
        assert!(IfMatch::Absent.check(9).is_ok());
    }
}
