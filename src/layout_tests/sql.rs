//! The SQL rule: handlers and console pages hold no SQL.

use super::*;

/// Files that define HTTP handlers or console pages but still hold SQL: the
/// remaining exemptions from the SQL rule, each with its reason. The list only
/// shrinks: an entry whose file no longer holds SQL fails the test too.
const SQL_IN_HANDLERS_EXEMPT: &[(&str, &str)] = &[];

/// The SCIM resource handlers: `scim/mod.rs` routes to them with `.route`,
/// not through `#[utoipa::path]`, and their files are not named `handlers.rs`.
const SCIM_HANDLERS: &[&str] = &["scim/users.rs", "scim/groups.rs", "scim/list.rs", "scim/tokens.rs"];

/// Whether the file at `shown` (relative to `src/`) defines handlers or pages:
/// a `handlers.rs`, a file under a `handlers/` folder, everything under
/// `console/`, a file with an OpenAPI-documented handler (`#[utoipa::path`),
/// and the SCIM resource handlers.
fn defines_handlers(shown: &str, code: &str) -> bool {
    let parts: Vec<&str> = shown.split('/').collect();
    parts.last() == Some(&"handlers.rs")
        || parts[..parts.len() - 1].contains(&"handlers")
        || parts[0] == "console"
        || code.contains("#[utoipa::path")
        || SCIM_HANDLERS.contains(&shown)
}

/// What in `code` is SQL: a `sqlx::query*` call or an SQL statement in a
/// string (upper-case `SELECT … FROM`, `INSERT INTO`, `UPDATE x SET`,
/// `DELETE FROM`).
fn sql_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for call in ["sqlx::query", "query_as", "query_scalar"] {
        if code.contains(call) {
            out.push(call.to_string());
        }
    }
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let next = |n: usize| words.get(i + n).copied().unwrap_or("");
        let found = match *w {
            "INSERT" if next(1) == "INTO" => "INSERT INTO",
            "DELETE" if next(1) == "FROM" => "DELETE FROM",
            "UPDATE" if next(2) == "SET" => "UPDATE … SET",
            "SELECT" if words[i + 1..].iter().take(40).any(|x| *x == "FROM") => "SELECT … FROM",
            _ => continue,
        };
        out.push(found.to_string());
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn handlers_and_console_pages_hold_no_sql() {
    let mut found = Vec::new();
    let mut exempt_without_sql = Vec::new();
    for module in public_modules() {
        for (path, text) in sources_of(&module) {
            let shown = path.strip_prefix(src()).unwrap_or(&path).display().to_string();
            let code = code(&text);
            if !defines_handlers(&shown, &code) {
                continue;
            }
            let sql = sql_in(&code);
            let exempt = SQL_IN_HANDLERS_EXEMPT.iter().any(|(p, _)| *p == shown);
            if exempt && sql.is_empty() {
                exempt_without_sql.push(format!("src/{shown}"));
            } else if !exempt && !sql.is_empty() {
                found.push(format!("src/{shown}: {}", sql.join(", ")));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL in a handler or console page (move it to the feature's repo module):\n{}",
        found.join("\n")
    );
    assert!(
        exempt_without_sql.is_empty(),
        "no SQL left: remove from SQL_IN_HANDLERS_EXEMPT:\n{}",
        exempt_without_sql.join("\n")
    );
    for (path, _) in SQL_IN_HANDLERS_EXEMPT {
        assert!(
            src().join(path).is_file(),
            "SQL_IN_HANDLERS_EXEMPT names a missing src/{path}"
        );
    }
}

#[test]
fn the_sql_finder_sees_queries_and_statements_but_not_prose_words() {
    let code = "let n: i64 = sqlx::query_scalar(\"SELECT count(*) FROM projects\");\n\
                let s = \"INSERT INTO t (a) VALUES ($1)\"; let u = \"UPDATE t SET a = 1\";\n\
                let d = \"DELETE FROM t\";";
    assert_eq!(
        sql_in(code),
        [
            "DELETE FROM",
            "INSERT INTO",
            "SELECT … FROM",
            "UPDATE … SET",
            "query_scalar",
            "sqlx::query"
        ]
    );
    assert!(sql_in("let select = update(from); // Update the row, then select").is_empty());
    assert!(defines_handlers("users/handlers.rs", ""));
    assert!(defines_handlers("auth/handlers/login.rs", ""));
    assert!(defines_handlers("console/tenant/audit.rs", ""));
    assert!(defines_handlers(
        "admin/overview.rs",
        "#[utoipa::path(get, path = \"\")]"
    ));
    assert!(!defines_handlers("users/repo.rs", "pub async fn find() {}"));
}
