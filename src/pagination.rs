//! List parameters: `page`/`page_size`, whitelisted `sort`, `search` patterns, query
//! value forms, and the `{items, total, page, page_size}` envelope.

use serde::{Deserialize, Serialize};
use sqlx::{Arguments, FromRow, PgConnection, Postgres, error::BoxDynError, postgres::PgArguments, postgres::PgRow};

use crate::http::ApiError;
use time::OffsetDateTime;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;

/// `page` starts at 1; `page_size` defaults to 20 and is capped at 100.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    #[serde(default = "one", deserialize_with = "lenient_i64")]
    #[param(minimum = 1, default = 1)]
    pub page: i64,
    #[serde(default = "default_size", deserialize_with = "lenient_i64")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub page_size: i64,
}

fn one() -> i64 {
    1
}
fn default_size() -> i64 {
    DEFAULT_PAGE_SIZE
}

/// Query strings inside `#[serde(flatten)]` arrive as strings; accept both forms.
fn lenient_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(i64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an integer"))),
    }
}

/// A boolean query parameter as clients send it: `true`/`false` in any case
/// (Python's `requests` writes `True`), `1`/`0`, `yes`/`no`, `on`/`off`.
pub fn query_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        B(bool),
        S(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::B(b)) => Ok(Some(b)),
        Some(Raw::S(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!(
                "`{s}` is not a boolean (true or false)"
            ))),
        },
    }
}

/// An instant query parameter: RFC 3339, also with its `+hh:mm` offset turned
/// into a space by a client that did not percent-encode it, a date-time without
/// offset (UTC), or a bare date (midnight UTC).
pub fn query_instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    parse_instant(&raw).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{raw}` is not an RFC 3339 date-time such as 2026-01-31T12:00:00Z"
        ))
    })
}

fn parse_instant(raw: &str) -> Option<OffsetDateTime> {
    use time::{Date, PrimitiveDateTime, format_description::well_known::Rfc3339, macros::format_description};
    let s = raw.trim();
    let offset_restored = match s.rfind(' ') {
        Some(i) if i > 10 => format!("{}+{}", &s[..i], &s[i + 1..]),
        _ => s.to_string(),
    };
    let naive = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    OffsetDateTime::parse(&offset_restored, &Rfc3339)
        .ok()
        .or_else(|| {
            PrimitiveDateTime::parse(s, naive)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            Date::parse(s, format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|d| d.midnight().assume_utc())
        })
}

/// [`query_bool`] for a flag that is off when absent.
pub fn query_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    query_bool(d).map(|b| b.unwrap_or(false))
}

impl Default for PageParams {
    fn default() -> Self {
        Self {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl PageParams {
    pub fn number(&self) -> i64 {
        self.page.max(1)
    }
    pub fn limit(&self) -> i64 {
        self.page_size.clamp(1, MAX_PAGE_SIZE)
    }
    pub fn offset(&self) -> i64 {
        (self.number() - 1).saturating_mul(self.limit())
    }
    /// The list's total when a page of `len` rows tells it: a short page that
    /// is not past the end (an empty first page is a total of 0).
    pub fn total_from_page(&self, len: usize) -> Option<i64> {
        let len = len as i64;
        (len < self.limit() && (len > 0 || self.offset() == 0)).then(|| self.offset() + len)
    }
    /// Wraps one page of rows.
    pub fn wrap<T>(&self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            total,
            page: self.number(),
            page_size: self.limit(),
        }
    }
}

/// A `search` parameter as an ILIKE pattern: `None` when absent or blank.
pub fn search_pattern(search: Option<&str>) -> Option<String> {
    search.map(str::trim).filter(|s| !s.is_empty()).map(like_pattern)
}

/// Escapes `%`, `_` and `\` for a literal ILIKE match.
pub fn like_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.trim().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Maps a `sort` parameter onto a whitelisted ORDER BY; anything else is 422.
/// `tiebreak` (the id column) keeps pages stable when sort values repeat.
pub fn order_by(
    sort: Option<&str>,
    allowed: &[(&str, &'static str)],
    tiebreak: &str,
    default: &'static str,
) -> Result<String, ApiError> {
    let Some(sort) = sort.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default.to_string());
    };
    let (field, dir) = match sort.strip_prefix('-') {
        Some(f) => (f, "DESC"),
        None => (sort.strip_prefix('+').unwrap_or(sort), "ASC"),
    };
    let column = allowed
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, col)| *col)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            ApiError::invalid(
                "sort",
                format!("must be one of {} (prefix `-` for descending)", names.join(", ")),
            )
        })?;
    Ok(format!("{column} {dir}, {tiebreak} {dir}"))
}

/// A list's `WHERE` clause holding only the filters in use, with their values
/// bound, so a list and its count share one definition of what matches.
///
/// Why only the filters in use: with `($1 IS NULL OR …)` for an absent filter
/// and a bound `LIMIT`, PostgreSQL re-planned a list's page and its count on
/// every call (their generic plan looks costlier than a custom one), and the
/// planning cost more than the execution. Each combination of filters is its
/// own statement here, and [`fetch_page`] writes the bounds as literals, so a
/// connection plans each shape once. See bench/RESULTS.md.
#[derive(Default)]
pub struct Filter {
    sql: String,
    args: PgArguments,
    error: Option<BoxDynError>,
}

impl Filter {
    /// Adds `condition` (ANDed), in which each `$?` stands for `value`.
    pub fn and<T>(&mut self, condition: &str, value: T) -> &mut Self
    where
        T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        let placeholder = format!("${}", self.args.len());
        self.sql.push_str(if self.sql.is_empty() { "WHERE " } else { " AND " });
        self.sql.push_str(&condition.replace("$?", &placeholder));
        self
    }

    /// [`Filter::and`] when the filter is given.
    pub fn and_some<T>(&mut self, condition: &str, value: Option<T>) -> &mut Self
    where
        T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        if let Some(value) = value {
            self.and(condition, value);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// `WHERE …`, or nothing when no filter is in use.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The bound values, for `sqlx::query_*_with` (an error if one of them
    /// could not be encoded).
    pub fn args(&self) -> Result<PgArguments, sqlx::Error> {
        match &self.error {
            None => Ok(self.args.clone()),
            Some(e) => Err(sqlx::Error::Encode(e.to_string().into())),
        }
    }
}

/// One page of `SELECT {columns} FROM {from}` under `filter`, in `order`, and
/// the list's total: told by the page itself when it is short, else counted
/// with the same filter (a second statement only when the page is full or past
/// the end).
pub async fn fetch_page<T>(
    conn: &mut PgConnection,
    columns: &str,
    from: &str,
    filter: &Filter,
    order: &str,
    page: &PageParams,
) -> Result<Page<T>, sqlx::Error>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let (limit, offset, filtered) = (page.limit(), page.offset(), filter.sql());
    let items: Vec<T> = sqlx::query_as_with(
        sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {from} {filtered} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        )),
        filter.args()?,
    )
    .fetch_all(&mut *conn)
    .await?;
    if let Some(total) = page.total_from_page(items.len()) {
        return Ok(page.wrap(items, total));
    }
    let total: i64 = sqlx::query_scalar_with(
        sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {from} {filtered}")),
        filter.args()?,
    )
    .fetch_one(conn)
    .await?;
    Ok(page.wrap(items, total))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_pattern(" 50%_off "), "%50\\%\\_off%");
    }

    #[test]
    fn sort_is_whitelisted() {
        let allowed = [("name", "lower(p.name)")];
        assert_eq!(
            order_by(Some("-name"), &allowed, "id", "x").unwrap(),
            "lower(p.name) DESC, id DESC"
        );
        assert_eq!(order_by(None, &allowed, "id", "x").unwrap(), "x");
        assert!(order_by(Some("name; DROP TABLE x"), &allowed, "id", "x").is_err());
    }

    #[test]
    fn filters_number_their_values_and_leave_absent_ones_out() {
        let mut f = Filter::default();
        assert_eq!(f.sql(), "");
        f.and_some("a = $?", None::<bool>)
            .and("(b ILIKE $? OR c ILIKE $?)", "%x%")
            .and_some("e = $?", Some(3_i32));
        assert_eq!(f.sql(), "WHERE (b ILIKE $1 OR c ILIKE $1) AND e = $2");
        assert_eq!(f.args().unwrap().len(), 2);
    }

    #[test]
    fn a_short_page_tells_the_total() {
        let page = |page, page_size| PageParams { page, page_size };
        assert_eq!(page(1, 20).total_from_page(0), Some(0), "empty list");
        assert_eq!(page(1, 20).total_from_page(7), Some(7));
        assert_eq!(page(3, 20).total_from_page(5), Some(45));
        assert_eq!(page(1, 20).total_from_page(20), None, "a full page: count");
        assert_eq!(page(4, 20).total_from_page(0), None, "past the end: count");
    }

    #[test]
    fn instants_in_the_forms_clients_send() {
        let utc = |s: &str| parse_instant(s).map(|t| t.unix_timestamp());
        let noon = Some(1_769_860_800); // 2026-01-31T12:00:00Z
        assert_eq!(utc("2026-01-31T12:00:00Z"), noon);
        assert_eq!(utc("2026-01-31T13:00:00+01:00"), noon);
        assert_eq!(utc("2026-01-31T13:00:00 01:00"), noon, "`+` decoded as a space");
        assert_eq!(utc("2026-01-31T12:00:00.123456"), noon, "naive is UTC");
        assert_eq!(utc("2026-01-31"), Some(1_769_817_600));
        assert_eq!(utc("yesterday"), None);
    }

    #[test]
    fn booleans_in_the_forms_clients_send() {
        #[derive(Deserialize)]
        struct Q {
            #[serde(default, deserialize_with = "query_bool")]
            b: Option<bool>,
        }
        let q = |s: &str| serde_urlencoded::from_str::<Q>(s).map(|q| q.b).ok();
        assert_eq!(q("b=False"), Some(Some(false)));
        assert_eq!(q("b=1"), Some(Some(true)));
        assert_eq!(q(""), Some(None));
        assert_eq!(q("b=maybe"), None);
    }
}
