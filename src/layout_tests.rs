//! The layering rule of DESIGN.md "Layout" (kernel ← services ← app ←
//! features ← router/jobs ← main), checked on the sources:
//! - the kernel never names `crate::app`, `crate::router`, `crate::jobs` or a
//!   feature or service module. The forbidden list is every `pub mod` of
//!   `src/lib.rs` but the kernel, so a new feature is covered without an edit;
//! - the services `storage` and `email` never name `crate::app` or `AppState`:
//!   they take their own handles (`&Storage`, `&Db`, `&EmailService`);
//! - one writer per table: SQL that inserts, updates or deletes `users` or
//!   `user_roles` appears only under `src/users/accounts/`;
//! - the SQL rule: files that define HTTP handlers or console pages hold no
//!   SQL (no `sqlx::query*`, no `SELECT … FROM`/`INSERT INTO`/`UPDATE … SET`/
//!   `DELETE FROM` text); they call the feature's `repo` functions.

use std::path::{Path, PathBuf};

/// The kernel: every layer may use it; it uses only itself.
const KERNEL: &[&str] = &["config", "db", "http", "crypto", "pagination", "telemetry"];

/// Services that take their own handles rather than the application state.
const SERVICES: &[&str] = &["storage", "email"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The sources of a top-level module: `name.rs` and every `.rs` under `name/`.
fn sources_of(module: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable source folder") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    let file = src().join(format!("{module}.rs"));
    if file.is_file() {
        paths.push(file);
    }
    let dir = src().join(module);
    if dir.is_dir() {
        walk(&dir, &mut paths);
    }
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            (p, text)
        })
        .collect()
}

/// The modules `src/lib.rs` declares with `pub mod`.
fn public_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// The source without `//` comments (doc comments included): the rule is
/// about what the code names, not what its prose mentions.
fn code(source: &str) -> String {
    source
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a source reaches through `crate::`, grouped imports
/// (`use crate::{app::AppState, db::Db}`) included.
fn crate_modules(source: &str) -> Vec<String> {
    let code = code(source);
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            found.push(leading_ident(rest));
            continue;
        };
        let (mut depth, mut item) = (0, String::new());
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    found.push(leading_ident(&item));
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        found.push(leading_ident(&item));
    }
    found.retain(|m| !m.is_empty());
    found
}

fn leading_ident(path: &str) -> String {
    path.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// `path: names crate::module` for each violation.
fn violations(modules: &[&str], forbidden: &[String], extra_words: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for module in modules {
        let sources = sources_of(module);
        assert!(!sources.is_empty(), "no sources found for `{module}`");
        for (path, text) in sources {
            let shown = path.strip_prefix(src()).unwrap_or(&path).display().to_string();
            for named in crate_modules(&text) {
                if forbidden.contains(&named) {
                    out.push(format!("src/{shown} names crate::{named}"));
                }
            }
            let code = code(&text);
            for word in extra_words {
                if code.contains(word) {
                    out.push(format!("src/{shown} names {word}"));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_kernel_never_names_the_app_the_router_the_jobs_or_a_feature() {
    let forbidden: Vec<String> = public_modules()
        .into_iter()
        .filter(|m| !KERNEL.contains(&m.as_str()))
        .collect();
    for top in ["app", "router", "jobs", "auth", "email", "storage"] {
        assert!(
            forbidden.iter().any(|m| m == top),
            "src/lib.rs no longer declares `{top}`"
        );
    }
    let found = violations(KERNEL, &forbidden, &[]);
    assert!(found.is_empty(), "the kernel imports upward:\n{}", found.join("\n"));
}

#[test]
fn storage_and_email_take_their_own_handles() {
    let found = violations(SERVICES, &["app".to_string()], &["AppState"]);
    assert!(
        found.is_empty(),
        "a service names the application state:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_sees_plain_and_grouped_paths_but_not_comments() {
    let source = "use crate::{app::AppState, db::{Db, TenantId}, http::ApiError};\n\
                  // crate::router is only mentioned here\n\
                  fn f() { crate::auth::extract::check(); }";
    assert_eq!(crate_modules(source), ["app", "db", "http", "auth"]);
}

/// The SQL statements that write `table` in `code`, as `INSERT INTO users`.
fn writes_of(code: &str, table: &str) -> Vec<String> {
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for w in words.windows(3) {
        let verb = match (w[0].to_ascii_uppercase().as_str(), w[1].to_ascii_uppercase().as_str()) {
            ("INSERT", "INTO") | ("DELETE", "FROM") => format!("{} {} {}", w[0], w[1], w[2]),
            _ => continue,
        };
        if w[2] == table {
            out.push(verb);
        }
    }
    for w in words.windows(2) {
        if w[0].eq_ignore_ascii_case("UPDATE") && w[1] == table {
            out.push(format!("UPDATE {table}"));
        }
    }
    out
}

#[test]
fn only_users_accounts_writes_users_and_user_roles() {
    let owner = src().join("users").join("accounts");
    let mut found = Vec::new();
    for module in public_modules() {
        for (path, text) in sources_of(&module) {
            if path.starts_with(&owner) {
                continue;
            }
            let code = code(&text);
            for table in ["users", "user_roles"] {
                for write in writes_of(&code, table) {
                    let shown = path.strip_prefix(src()).unwrap_or(&path).display().to_string();
                    found.push(format!("src/{shown}: {write}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "`users`/`user_roles` written outside src/users/accounts/:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_write_finder_sees_inserts_updates_and_deletes_of_the_table_only() {
    let sql = "INSERT INTO users (id) VALUES ($1); UPDATE users SET x = 1; \
               DELETE FROM user_roles WHERE x; UPDATE user_sessions SET y; SELECT * FROM users";
    assert_eq!(writes_of(sql, "users"), ["INSERT INTO users", "UPDATE users"]);
    assert_eq!(writes_of(sql, "user_roles"), ["DELETE FROM user_roles"]);
}

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
/// Every `.rs` file under `src/` (the binary's `main.rs` included), with its
/// code before the first `#[cfg(test)]` (unit tests may build any value) and
/// without comments.
fn non_test_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable source folder") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&src(), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|p| !p.ends_with("layout_tests.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            let shown = p.strip_prefix(src()).unwrap_or(&p).display().to_string();
            (shown, non_test_code(&text))
        })
        .collect()
}

/// `source` up to its first `#[cfg(test)]`, without comments.
fn non_test_code(source: &str) -> String {
    code(source.split("#[cfg(test)]").next().unwrap_or_default())
}

#[test]
fn the_caller_finder_skips_comments_and_unit_tests() {
    let source = "fn f() { TenantId::from_trusted(id) }\n\
                  // TenantId::from_trusted(in_a_comment)\n\
                  #[cfg(test)]\nmod tests { fn g() { db.system_job(\"x\"); } }";
    let code = non_test_code(source);
    assert!(code.contains("TenantId::from_trusted(id)"));
    assert!(!code.contains("in_a_comment"));
    assert!(!code.contains(".system_job("));
}

/// The files (relative to `src/`) whose non-test code contains `token` but
/// that `allowed` does not list.
fn unexpected_callers(token: &str, allowed: &[&str]) -> Vec<String> {
    non_test_sources()
        .into_iter()
        .filter(|(path, code)| code.contains(token) && !allowed.contains(&path.as_str()))
        .map(|(path, _)| format!("src/{path}"))
        .collect()
}

/// A background job's cross-tenant access is minted in `jobs.rs` only: a
/// job's code in its feature receives a `PlatformAccess` and cannot make one.
#[test]
fn only_jobs_mints_a_system_jobs_platform_access() {
    let found = unexpected_callers(".system_job(", &["jobs.rs"]);
    assert!(
        found.is_empty(),
        "`Db::system_job` called outside src/jobs.rs:\n{}",
        found.join("\n")
    );
    // The named accesses of `jobs.rs` are for `main` and the tests, not features.
    let found = unexpected_callers("crate::jobs", &["jobs.rs"]);
    assert!(
        found.is_empty(),
        "`crate::jobs` named from below:\n{}",
        found.join("\n")
    );
}

/// One-off commands (`seed`, `create-super-admin`, `rotate-keys`) open their
/// platform transactions through `Db::cli_command`, from their own modules.
#[test]
fn only_the_commands_use_the_cli_platform_access() {
    let found = unexpected_callers(
        ".cli_command(",
        &["main.rs", "bootstrap.rs", "seed.rs", "rotate_keys.rs"],
    );
    assert!(
        found.is_empty(),
        "`Db::cli_command` called outside the commands:\n{}",
        found.join("\n")
    );
}

/// Requests reach the platform handle through the super-admin extractors, or
/// one of the unauthenticated purposes `db::PreAuth` names and documents.
#[test]
fn requests_reach_the_platform_only_as_a_super_admin_or_a_named_pre_auth_purpose() {
    let extractors = ["db/mod.rs", "auth/extract.rs", "console/platform/mod.rs"];
    let found = unexpected_callers(".platform_tx(", &extractors);
    assert!(
        found.is_empty(),
        "`Db::platform_tx` called outside the super-admin extractors:\n{}",
        found.join("\n")
    );
    let found = unexpected_callers(".super_admin_access(", &["auth/extract.rs"]);
    assert!(
        found.is_empty(),
        "`Db::super_admin_access` called outside `SuperAdmin`:\n{}",
        found.join("\n")
    );
    // `/health/detailed` (email queue aggregates) and the SNS-signed SES webhook.
    let found = unexpected_callers(".pre_auth_platform_tx(", &["email/health.rs", "email/webhook.rs"]);
    assert!(
        found.is_empty(),
        "an unlisted pre-authentication platform transaction:\n{}",
        found.join("\n")
    );
}

/// Where a `TenantId` may be made from a bare uuid. Anywhere else, a tenant id
/// comes from the caller's context (`ctx.tenant_id`, `tx.tenant()`), from
/// `TenantId::SYSTEM`, or — for a super admin naming a tenant in a path or
/// body — from `PlatformTx::tenant`, which checks the tenant exists. A handler
/// turning request input into a `TenantId` by hand fails here.
const TRUSTED_TENANT_IDS: &[&str] = &[
    // The definition.
    "db/mod.rs",
    // Verified tokens: the access token (and the MFA step's token).
    "auth/extract.rs",
    "auth/handlers/login.rs",
    // Pre-authentication look-ups: login candidates, tenant by slug, SCIM
    // and API-key bearer tokens, a signed upload grant.
    "auth/signin.rs",
    "oauth/flow/mod.rs",
    "scim/auth.rs",
    "integrations/api_keys/authn.rs",
    "projects/uploads.rs",
    // System work on rows its own platform query read (webhook deliveries,
    // expired uploads; the key rotation command).
    "integrations/webhooks/worker.rs",
    "rotate_keys.rs",
];

#[test]
fn tenant_ids_are_made_from_bare_uuids_only_where_they_are_trusted() {
    let found = unexpected_callers("from_trusted(", TRUSTED_TENANT_IDS);
    assert!(
        found.is_empty(),
        "`TenantId::from_trusted` outside the trusted places (use the context's tenant, \
         `TenantId::SYSTEM` or `PlatformTx::tenant`):\n{}",
        found.join("\n")
    );
    for allowed in TRUSTED_TENANT_IDS {
        assert!(
            non_test_sources()
                .iter()
                .any(|(p, c)| p == allowed && c.contains("from_trusted(")),
            "src/{allowed} no longer needs to be listed in TRUSTED_TENANT_IDS"
        );
    }
}
