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

mod kernel;
mod scope;
mod sql;
mod writers;

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The sources of a top-level module: `name.rs` and every `.rs` under `name/`.
fn sources_of(module: &str) -> Vec<(PathBuf, String)> {
    let mut paths = Vec::new();
    let file = src().join(format!("{module}.rs"));
    if file.is_file() {
        paths.push(file);
    }
    let dir = src().join(module);
    if dir.is_dir() {
        rs_files(&dir, &mut paths);
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

/// Every `.rs` file under `src/` (the binary's `main.rs` included), with its
/// code before the first `#[cfg(test)]` (unit tests may build any value) and
/// without comments.
fn non_test_sources() -> Vec<(String, String)> {
    let mut paths = Vec::new();
    rs_files(&src(), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|p| !p.starts_with(src().join("layout_tests")))
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
