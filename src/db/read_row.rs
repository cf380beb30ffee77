//! The arguments and rows of the single-statement tenant reads
//! ([`super::TenantRead`]), the same whichever driver runs them: tokio-postgres
//! on the pipelined read connections, sqlx on the pool (behind a transaction
//! pooler, over TLS, on a small budget). Each row type decodes itself once, by
//! column position, for both.

use std::borrow::Cow;

use sqlx::{
    Postgres,
    error::{DatabaseError, ErrorKind},
    postgres::{PgArguments, PgRow},
    query::Query,
};
use tokio_postgres::types::{FromSql, ToSql, Type};
use uuid::Uuid;

/// An argument of a tenant read (after the tenant, which is always `$1`).
#[derive(Clone, Copy, Debug)]
pub enum ReadArg {
    Uuid(Uuid),
    Int(i32),
    BigInt(i64),
}

impl From<Uuid> for ReadArg {
    fn from(v: Uuid) -> Self {
        Self::Uuid(v)
    }
}
impl From<i32> for ReadArg {
    fn from(v: i32) -> Self {
        Self::Int(v)
    }
}
impl From<i64> for ReadArg {
    fn from(v: i64) -> Self {
        Self::BigInt(v)
    }
}

impl ReadArg {
    pub(super) fn pg_type(&self) -> Type {
        match self {
            Self::Uuid(_) => Type::UUID,
            Self::Int(_) => Type::INT4,
            Self::BigInt(_) => Type::INT8,
        }
    }

    pub(super) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Uuid(v) => v,
            Self::Int(v) => v,
            Self::BigInt(v) => v,
        }
    }

    pub(super) fn bind(self, query: Query<'static, Postgres, PgArguments>) -> Query<'static, Postgres, PgArguments> {
        match self {
            Self::Uuid(v) => query.bind(v),
            Self::Int(v) => query.bind(v),
            Self::BigInt(v) => query.bind(v),
        }
    }
}

/// A column type both drivers decode.
pub trait ReadValue: sqlx::Type<Postgres> + for<'r> sqlx::Decode<'r, Postgres> + for<'a> FromSql<'a> {}
impl<T> ReadValue for T where T: sqlx::Type<Postgres> + for<'r> sqlx::Decode<'r, Postgres> + for<'a> FromSql<'a> {}

/// A row as either driver fetched it.
pub trait AnyRow {
    fn value<T: ReadValue>(&self, index: usize) -> Result<T, sqlx::Error>;
}

impl AnyRow for PgRow {
    fn value<T: ReadValue>(&self, index: usize) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, index)
    }
}

impl AnyRow for tokio_postgres::Row {
    fn value<T: ReadValue>(&self, index: usize) -> Result<T, sqlx::Error> {
        self.try_get(index).map_err(|e| sqlx::Error::ColumnDecode {
            index: index.to_string(),
            source: Box::new(e),
        })
    }
}

/// A row's columns, taken in order.
pub struct Columns<'r, R> {
    row: &'r R,
    next: usize,
}

impl<'r, R: AnyRow> Columns<'r, R> {
    pub fn new(row: &'r R) -> Self {
        Self { row, next: 0 }
    }

    /// The next column's value.
    #[allow(clippy::should_implement_trait)] // typed per call, unlike `Iterator::next`
    pub fn next<T: ReadValue>(&mut self) -> Result<T, sqlx::Error> {
        self.next += 1;
        self.row.value(self.next - 1)
    }
}

/// What a tenant read returns: decoded from its columns in the order the
/// statement selects them.
pub trait FromRead: Sized {
    fn from_read<R: AnyRow>(columns: &mut Columns<'_, R>) -> Result<Self, sqlx::Error>;
}

/// tokio-postgres' errors as sqlx's, so the callers, the outage guard and the
/// HTTP error mapping see one kind: a server error keeps its SQLSTATE, a lost
/// or refused connection is an I/O error.
pub(super) fn driver_error(e: tokio_postgres::Error) -> sqlx::Error {
    if let Some(db) = e.as_db_error() {
        return sqlx::Error::Database(Box::new(ServerError(db.clone())));
    }
    let kind = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    match kind {
        Some(kind) => sqlx::Error::Io(std::io::Error::new(kind, e.to_string())),
        None if e.is_closed() => sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            e.to_string(),
        )),
        None => sqlx::Error::Protocol(e.to_string()),
    }
}

/// A PostgreSQL error reported through tokio-postgres.
#[derive(Debug)]
struct ServerError(tokio_postgres::error::DbError);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ServerError {}

impl DatabaseError for ServerError {
    fn message(&self) -> &str {
        self.0.message()
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.0.code().code()))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn constraint(&self) -> Option<&str> {
        self.0.constraint()
    }
    fn kind(&self) -> ErrorKind {
        match self.0.code().code() {
            "23505" => ErrorKind::UniqueViolation,
            "23503" => ErrorKind::ForeignKeyViolation,
            "23502" => ErrorKind::NotNullViolation,
            "23514" => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_bind_as_their_postgres_types() {
        let id = Uuid::from_u128(7);
        let args = [ReadArg::from(id), ReadArg::from(20_i32), ReadArg::from(40_i64)];
        let types: Vec<Type> = args.iter().map(ReadArg::pg_type).collect();
        assert_eq!(types, [Type::UUID, Type::INT4, Type::INT8]);
        for (arg, ty) in args.iter().zip(&types) {
            let mut buf = bytes::BytesMut::new();
            arg.as_sql()
                .to_sql_checked(ty, &mut buf)
                .expect("encodes as its own type");
            assert!(!buf.is_empty());
        }
    }
}
