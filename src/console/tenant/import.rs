//! The CSV import on `/admin/users/invite`: a file or pasted text whose rows
//! become accounts through the API's `bulk_create` (`POST /users/bulk/create`,
//! users:create), each with a welcome email carrying a set-password link.
//!
//! The server parses the CSV (one parser, here); the browser then posts the
//! parsed rows in small batches to `/admin/users/import/rows` and moves a
//! `<progress>` bar as each batch answers, adding one result line per row.
//! Without JavaScript the form posts once and every row is run before the
//! results page is drawn. A row asking for roles whose permissions the admin
//! does not hold fails alone with the API's 403 and its detail.

use axum::{body::Bytes, extract::State, response::Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::another;
use crate::{
    app::AppState,
    auth::{AuthCtx, Authz},
    console::{
        render::{self, Frame},
        session::Console,
    },
    http::{ApiError, extract::ApiJson},
    rbac::perm,
    users::{
        bulk::{self, MAX_BULK_ROWS},
        model::BulkCreateRequest,
    },
};

type Importer = Console<perm::UsersCreate>;

/// The most rows one browser batch may carry.
const MAX_BATCH: usize = 100;

/// One CSV record, ready for the API's bulk creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvRow {
    /// Its line in the file (1-based), for the results.
    line: usize,
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    role_names: Vec<String>,
}

/// A line that could not be read as a row.
#[derive(Debug, PartialEq, Serialize)]
struct LineError {
    line: usize,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Parsed {
    rows: Vec<CsvRow>,
    errors: Vec<LineError>,
}

/// The records of RFC 4180 text (quoted fields may hold commas, doubled quotes
/// and line breaks), each with the line it starts on; blank lines are skipped.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, LineError> {
    let mut out = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted, mut was_quoted) = (1, 1, false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            ',' if !quoted => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if !quoted => {}
            '\n' if !quoted => {
                fields.push(std::mem::take(&mut field));
                if fields.iter().any(|f| !f.trim().is_empty()) {
                    out.push((start, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start = line;
                was_quoted = false;
            }
            c => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err(LineError {
            line: start,
            detail: "A quoted field is not closed".into(),
        });
    }
    fields.push(field);
    if fields.iter().any(|f| !f.trim().is_empty()) {
        out.push((start, fields));
    }
    Ok(out)
}

/// Role names in one field: separated by `;` or `|`.
fn role_list(field: &str) -> impl Iterator<Item = String> + '_ {
    field
        .split([';', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Rows from CSV text. With a header row (its first cell `email`), the
/// columns are named: `email`, `first_name`, `last_name`, `roles`. Without
/// one: the email, then role names, one a column. A `roles` cell may list
/// several names separated by `;`.
fn parse(text: &str) -> Parsed {
    let mut records = match records(text) {
        Ok(r) => r.into_iter().peekable(),
        Err(e) => {
            return Parsed {
                rows: vec![],
                errors: vec![e],
            };
        }
    };
    let mut parsed = Parsed {
        rows: vec![],
        errors: vec![],
    };
    let header: Option<Vec<String>> = match records.peek() {
        Some((_, first)) if first[0].trim().eq_ignore_ascii_case("email") => records.next().map(|(_, h)| {
            h.iter()
                .map(|c| c.trim().to_ascii_lowercase().replace(' ', "_"))
                .collect()
        }),
        _ => None,
    };
    for (line, fields) in records {
        let mut row = CsvRow {
            line,
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            role_names: vec![],
        };
        match &header {
            Some(names) => {
                for (name, value) in names.iter().zip(&fields) {
                    match name.as_str() {
                        "email" => row.email = value.trim().to_string(),
                        "first_name" => row.first_name = value.trim().to_string(),
                        "last_name" => row.last_name = value.trim().to_string(),
                        "roles" | "role" | "role_names" => row.role_names.extend(role_list(value)),
                        _ => {}
                    }
                }
            }
            None => {
                row.email = fields[0].trim().to_string();
                row.role_names = fields[1..].iter().flat_map(|f| role_list(f)).collect();
            }
        }
        if row.email.is_empty() {
            parsed.errors.push(LineError {
                line,
                detail: "No email address on this line".into(),
            });
        } else {
            parsed.rows.push(row);
        }
    }
    parsed
}

/// What happened to one row.
#[derive(Debug, Serialize)]
struct RowResult {
    line: usize,
    email: String,
    success: bool,
    status: u16,
    detail: String,
}

/// Runs `rows` through the API's `bulk_create` in `authz`'s transaction.
async fn run_batch(
    state: &AppState,
    authz: Authz<perm::UsersCreate>,
    rows: &[CsvRow],
) -> Result<Vec<RowResult>, ApiError> {
    let users = rows
        .iter()
        .map(|r| json!({"email": r.email, "first_name": r.first_name, "last_name": r.last_name, "role_names": r.role_names}))
        .collect();
    let request = BulkCreateRequest {
        users,
        send_welcome_email: Some(true),
    };
    let ApiJson(result) = bulk::bulk_create(State(state.clone()), authz, ApiJson(request)).await?;
    let mut out: Vec<RowResult> = result
        .created
        .into_iter()
        .map(|c| RowResult {
            line: rows[c.index].line,
            email: c.user.email,
            success: true,
            status: 201,
            detail: "Created; a welcome email with a link to set a password is on its way.".into(),
        })
        .chain(result.errors.into_iter().map(|e| RowResult {
            line: rows[e.index].line,
            email: e.email.unwrap_or_else(|| rows[e.index].email.clone()),
            success: false,
            status: e.status,
            detail: e.detail,
        }))
        .collect();
    out.sort_by_key(|r| r.line);
    Ok(out)
}

/// The `csv` field of a form body.
fn csv_field(body: &[u8]) -> String {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "csv")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `POST /admin/users/import/parse` (JSON): the rows the browser will send
/// in batches, and the lines that are not rows.
pub async fn parse_submit(_me: Importer, body: Bytes) -> Result<ApiJson<serde_json::Value>, ApiError> {
    let parsed = parse(&csv_field(&body));
    if parsed.rows.is_empty() && parsed.errors.is_empty() {
        return Err(ApiError::invalid("csv", "holds no rows"));
    }
    Ok(ApiJson(json!(parsed)))
}

#[derive(Deserialize)]
struct Batch {
    rows: Vec<CsvRow>,
}

/// `POST /admin/users/import/rows` (JSON `{rows}`): one batch, one result per row.
pub async fn rows_submit(
    State(state): State<AppState>,
    me: Importer,
    body: Bytes,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    let batch: Batch = crate::http::extract::parse_json(&body)?;
    if batch.rows.is_empty() || batch.rows.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "rows",
            format!("must hold between 1 and {MAX_BATCH} rows"),
        ));
    }
    let results = run_batch(&state, me.authz, &batch.rows).await?;
    Ok(ApiJson(json!({ "results": results })))
}

#[derive(Serialize)]
struct ResultsView {
    frame: Frame,
    rows: Vec<RowResult>,
    errors: Vec<LineError>,
    succeeded: usize,
    failed: usize,
}

/// `POST /admin/users/import` (the form without JavaScript): every row, then
/// the results page.
pub async fn import_submit(State(state): State<AppState>, me: Importer, body: Bytes) -> Response {
    let frame = me.frame("/admin/users");
    let parsed = parse(&csv_field(&body));
    if parsed.rows.is_empty() && parsed.errors.is_empty() {
        return super::refused(ApiError::invalid("csv", "holds no rows"));
    }
    let ctx: AuthCtx = me.authz.ctx.clone();
    let mut authz = Some(me.authz);
    let mut rows = Vec::new();
    for chunk in parsed.rows.chunks(MAX_BULK_ROWS) {
        let authz = match authz.take() {
            Some(a) => Ok(a),
            None => another(&state, &ctx).await,
        };
        match authz {
            Ok(a) => match run_batch(&state, a, chunk).await {
                Ok(r) => rows.extend(r),
                Err(e) => return super::refused(e),
            },
            Err(e) => return render::api_error(e),
        }
    }
    let succeeded = rows.iter().filter(|r| r.success).count();
    let failed = rows.len() - succeeded + parsed.errors.len();
    render::ok(
        "tenant_import.html",
        ResultsView {
            frame,
            rows,
            errors: parsed.errors,
            succeeded,
            failed,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let r = records("a,\"b, \"\"c\"\"\",d\r\n\n\"x\ny\",z").unwrap();
        assert_eq!(
            r,
            [
                (1, vec!["a".into(), "b, \"c\"".into(), "d".into()]),
                (3, vec!["x\ny".to_string(), "z".into()])
            ]
        );
        assert_eq!(records("a,\"b").unwrap_err().line, 1);
    }

    #[test]
    fn rows_by_header_or_by_position() {
        let p = parse("Email,First name,Last name,Roles\nann@x.test,Ann,Lee,viewer; user\n,Bob,,\n");
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].line, 2);
        assert_eq!(
            (p.rows[0].first_name.as_str(), p.rows[0].last_name.as_str()),
            ("Ann", "Lee")
        );
        assert_eq!(p.rows[0].role_names, ["viewer", "user"]);
        assert_eq!(
            p.errors,
            [LineError {
                line: 3,
                detail: "No email address on this line".into()
            }]
        );

        let p = parse("bob@x.test,viewer,project_manager\ncy@x.test\n");
        assert_eq!(p.rows[0].role_names, ["viewer", "project_manager"]);
        assert_eq!((p.rows[1].email.as_str(), p.rows[1].line), ("cy@x.test", 2));
        assert!(p.rows[1].role_names.is_empty());
    }
}
