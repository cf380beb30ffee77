//! The kernel names no feature; the services take their own handles.

use super::*;

/// The kernel: every layer may use it; it uses only itself.
const KERNEL: &[&str] = &["config", "db", "http", "crypto", "memory", "pagination", "telemetry"];

/// Services that take their own handles rather than the application state.
const SERVICES: &[&str] = &["storage", "email"];

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
