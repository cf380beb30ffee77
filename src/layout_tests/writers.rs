//! One writer per table: `users` and `user_roles` are written only under `src/users/accounts/`.

use super::*;

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
