//! The rendering checked against known `jsonb_out` texts.

use super::*;

fn pg(text: &str) -> String {
    Jsonb::parse(text).unwrap().to_pg_text()
}

#[test]
fn numbers_print_as_numeric_out() {
    for (input, output) in [
        ("1.50", "1.50"),
        ("1e3", "1000"),
        ("1E+3", "1000"),
        ("1.5e-3", "0.0015"),
        ("1.50e1", "15.0"),
        ("12.345e1", "123.45"),
        ("-0", "0"),
        ("-0.00", "0.00"),
        ("0e5", "0"),
        ("0.0e-2", "0.000"),
        ("-12", "-12"),
        ("123456789012345678901234567890", "123456789012345678901234567890"),
        ("5e-1", "0.5"),
        ("25e-1", "2.5"),
    ] {
        assert_eq!(pg(input), output, "{input}");
    }
    assert!(Jsonb::parse("1e1001").is_err());
    for bad in ["01", "1.", ".5", "-", "1e", "+1", "0x10", "NaN"] {
        assert!(Jsonb::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn objects_sort_keys_by_length_then_bytes_and_keep_the_last_duplicate() {
    assert_eq!(
        pg(r#"{"bb":1,"a":2,"ab":[true,null],"é":{},"c":3,"a":4}"#),
        r#"{"a": 4, "c": 3, "ab": [true, null], "bb": 1, "é": {}}"#
    );
    assert_eq!(pg("[ ]"), "[]");
    assert_eq!(pg(" {\"x\" : [ {} , [] ] } "), r#"{"x": [{}, []]}"#);
}

#[test]
fn strings_escape_as_escape_json() {
    assert_eq!(
        pg(r#""a\"b\\c\/d\u00e9\n\t\r\b\f\u0001\u001f\u007f😀\ud83d\ude00""#),
        "\"a\\\"b\\\\c/dé\\n\\t\\r\\b\\f\\u0001\\u001f\u{7f}😀😀\""
    );
    for bad in [
        r#""\u0000""#,
        r#""\ud800""#,
        r#""\ude00x""#,
        "\"a\nb\"",
        r#""\x""#,
        "\"open",
    ] {
        assert!(Jsonb::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn hostile_input_is_refused_not_a_crash() {
    let deep = "[".repeat(100_000);
    assert!(Jsonb::parse(&deep).is_err());
    assert!(Jsonb::parse("[1,]").is_err());
    assert!(Jsonb::parse("{\"a\" 1}").is_err());
    assert!(Jsonb::parse("[1] x").is_err());
}
