//! Parser and SQL compiler tests, including hostile input.

use serde_json::json;

use super::*;

fn users(attr: &str) -> Option<Column> {
    match attr {
        "username" | "emails.value" => Some(Column {
            expr: "u.email",
            kind: Kind::Text,
            wrap: None,
        }),
        "externalid" => Some(Column {
            expr: "u.ext",
            kind: Kind::ExactText,
            wrap: None,
        }),
        "active" => Some(Column {
            expr: "u.is_active",
            kind: Kind::Bool,
            wrap: None,
        }),
        "meta.created" => Some(Column {
            expr: "u.created_at",
            kind: Kind::Time,
            wrap: None,
        }),
        _ => None,
    }
}

fn sql(f: &str) -> Result<(String, Vec<Bind>), ScimError> {
    to_sql(&parse(f)?, &users, 1)
}

#[test]
fn parses_the_entra_and_okta_filters() {
    let (s, b) = sql(r#"userName eq "Test_User@Example.com""#).unwrap();
    assert_eq!(s, "(lower(u.email) = lower($1))");
    assert_eq!(b, vec![Bind::Text("Test_User@Example.com".into())]);
    let (s, _) = sql(r#"externalId eq "abc""#).unwrap();
    assert_eq!(s, "(u.ext = $1)");
}

#[test]
fn operators_and_attribute_names_are_case_insensitive() {
    let (s, b) = sql(r#"USERNAME Eq "a" AND Active EQ true"#).unwrap();
    assert_eq!(s, "((lower(u.email) = lower($1)) AND (u.is_active = $2))");
    assert_eq!(b, vec![Bind::Text("a".into()), Bind::Bool(true)]);
}

#[test]
fn precedence_grouping_not_and_value_paths() {
    let (s, _) = sql(r#"userName sw "a" or userName ew "b" and not (active eq false)"#).unwrap();
    assert_eq!(
        s,
        "(starts_with(lower(u.email), lower($1)) OR ((right(lower(u.email), length(lower($2))) = lower($2)) \
         AND (NOT coalesce((u.is_active = $3), false))))"
    );
    let (s, _) = sql(r#"emails[value co "@example.com"]"#).unwrap();
    assert_eq!(s, "(strpos(lower(u.email), lower($1)) > 0)");
    let (s, _) = sql(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName pr"#).unwrap();
    assert_eq!(s, "(u.email IS NOT NULL AND u.email <> '')");
    let (s, b) = sql(r#"meta.created gt "2026-01-01T00:00:00Z""#).unwrap();
    assert_eq!(s, "(u.created_at > $1)");
    assert!(matches!(b[0], Bind::Time(_)));
}

#[test]
fn injection_attempts_stay_bind_parameters() {
    let evil = r#"userName eq "x') OR 1=1; DROP TABLE users; --""#;
    let (s, b) = sql(evil).unwrap();
    assert_eq!(s, "(lower(u.email) = lower($1))");
    assert_eq!(b, vec![Bind::Text("x') OR 1=1; DROP TABLE users; --".into())]);
    // Attribute names never reach the SQL: unknown ones are refused.
    for bad in [
        r#"email) OR (1=1 eq "x""#,
        r#"password_hash eq "x""#,
        r#"userName; DROP eq "x""#,
    ] {
        let e = sql(bad).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidFilter"), "{bad}");
    }
}

#[test]
fn hostile_input_is_bounded() {
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(500), ")".repeat(500));
    assert_eq!(sql(&deep).unwrap_err().scim_type, Some("invalidFilter"));
    let nots = format!("{}userName pr{}", "not (".repeat(50), ")".repeat(50));
    assert_eq!(sql(&nots).unwrap_err().scim_type, Some("invalidFilter"));
    let long = format!("userName eq \"{}\"", "a".repeat(MAX_LEN));
    assert_eq!(sql(&long).unwrap_err().scim_type, Some("invalidFilter"));
    for bad in [
        "",
        "userName",
        "userName eq",
        "userName eq \"a",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\")",
        "active gt true",
        "active eq \"maybe\"",
        "emails[value eq \"a\"",
        "meta.created gt \"yesterday\"",
        "userName eq \"a\" and",
        "\u{0}",
    ] {
        assert_eq!(sql(bad).unwrap_err().scim_type, Some("invalidFilter"), "{bad:?}");
    }
}

#[test]
fn evaluates_against_json_elements() {
    let member = json!({"value": "ABC", "display": "x"});
    assert!(parse(r#"value eq "abc""#).unwrap().matches(&member));
    assert!(!parse(r#"value eq "abd""#).unwrap().matches(&member));
    assert!(
        parse(r#"value sw "a" and not (display eq "y")"#)
            .unwrap()
            .matches(&member)
    );
    let email = json!({"type": "work", "value": "a@b.co"});
    assert!(parse(r#"type eq "work""#).unwrap().matches(&email));
}
