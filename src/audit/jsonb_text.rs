//! PostgreSQL's `jsonb` text output, reproduced byte for byte, so a chain can be
//! verified away from the database (`tenantry audit verify`).
//!
//! The chain digest hashes `jsonb_build_array(…)::text` (see the migration's
//! `audit_row_digest`). That text is not any JSON serialiser's: object keys are
//! sorted by length and then bytewise, a duplicate key keeps its last value,
//! separators are `", "` and `": "`, a number is `numeric_out` of its value
//! (`1.50` stays `1.50`, `1e3` becomes `1000`, `-0` becomes `0`), and strings
//! escape only `"`, `\`, and control characters (`\b \f \n \r \t`, others as
//! lowercase `\u00xx`). Hence this small parser: `serde_json` would turn
//! `1.50` into `1.5` before we could render it.

use std::fmt::Write;

/// A JSON value as `jsonb` holds it: numbers kept as `numeric_out` text,
/// objects already in `jsonb` key order without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jsonb {
    Null,
    Bool(bool),
    /// `numeric_out` of the value: plain decimal notation, the input's scale.
    Number(String),
    String(String),
    Array(Vec<Jsonb>),
    Object(Vec<(String, Jsonb)>),
}

/// Nesting deeper than this is refused (stack safety); audit values are shallow.
const MAX_DEPTH: usize = 512;
/// Exponents beyond this are refused; PostgreSQL's `numeric` accepts ±1000.
const MAX_EXPONENT: i64 = 1000;

impl Jsonb {
    /// Parses one JSON document (surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("unexpected text at byte {}", p.i));
        }
        Ok(v)
    }

    /// An object in `jsonb` order: keys sorted by (length, bytes), last duplicate kept.
    pub fn object(mut members: Vec<(String, Jsonb)>) -> Self {
        // Stable: among equal keys the input order stays, so the last one wins below.
        members.sort_by(|a, b| (a.0.len(), a.0.as_bytes()).cmp(&(b.0.len(), b.0.as_bytes())));
        let mut out: Vec<(String, Jsonb)> = Vec::with_capacity(members.len());
        for (k, v) in members {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        Jsonb::Object(out)
    }

    /// A member of an object by key.
    pub fn get(&self, key: &str) -> Option<&Jsonb> {
        match self {
            Jsonb::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text `jsonb_out` prints for this value.
    pub fn to_pg_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Jsonb::Null => out.push_str("null"),
            Jsonb::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Jsonb::Number(n) => out.push_str(n),
            Jsonb::String(s) => escape(s, out),
            Jsonb::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Jsonb::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    escape(k, out);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// PostgreSQL's `escape_json`.
fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `numeric_out(numeric_in(literal))` for a JSON number literal (already
/// checked against the JSON grammar): plain notation, scale = fraction digits
/// minus the exponent (never below 0), no sign on zero.
fn numeric_text(literal: &str) -> Result<String, String> {
    let (negative, rest) = match literal.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, literal),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => {
            let e: i64 = rest[at + 1..]
                .parse()
                .map_err(|_| format!("number {literal} is out of range"))?;
            (&rest[..at], e)
        }
        None => (rest, 0),
    };
    if exponent.abs() > MAX_EXPONENT {
        return Err(format!("number {literal} is out of range"));
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    // Where the decimal point falls within `digits`.
    let point = int.len() as i64 + exponent;
    let scale = (digits.len() as i64 - point).max(0) as usize;
    let digit = |i: i64| -> u8 {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            b'0'
        }
    };
    let mut integer: String = (0..point.max(0)).map(|i| digit(i) as char).collect();
    let trimmed = integer.trim_start_matches('0').len();
    integer.drain(..integer.len() - trimmed);
    if integer.is_empty() {
        integer.push('0');
    }
    let fraction: String = (point..point + scale as i64).map(|i| digit(i) as char).collect();
    let zero = digits.iter().all(|&d| d == b'0');
    let mut out = String::with_capacity(integer.len() + fraction.len() + 2);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(&integer);
    if scale > 0 {
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn value(&mut self, depth: usize) -> Result<Jsonb, String> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Jsonb::object(members));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected a key");
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected `:`");
                    }
                    self.i += 1;
                    members.push((key, self.value(depth + 1)?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Jsonb::object(members));
                        }
                        _ => return self.err("expected `,` or `}`"),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Jsonb::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Jsonb::Array(items));
                        }
                        _ => return self.err("expected `,` or `]`"),
                    }
                }
            }
            Some(b'"') => self.string().map(Jsonb::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => {
                for (word, v) in [
                    ("true", Jsonb::Bool(true)),
                    ("false", Jsonb::Bool(false)),
                    ("null", Jsonb::Null),
                ] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                self.err("expected a JSON value")
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<Jsonb, String> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return self.err("malformed number");
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err("malformed number");
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("malformed number");
            }
        }
        let literal = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII");
        numeric_text(literal).map(Jsonb::Number)
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let hex = self.s.get(self.i..self.i + 4).ok_or("truncated \\u escape")?;
        let hex = std::str::from_utf8(hex).map_err(|_| "malformed \\u escape")?;
        let v = u32::from_str_radix(hex, 16).map_err(|_| format!("malformed \\u escape at byte {}", self.i))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated string");
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return self.err("unpaired surrogate");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("unpaired surrogate");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                // PostgreSQL refuses \u0000 in jsonb (text cannot hold it).
                                Some(c) if c != '\0' => c,
                                _ => return self.err("unsupported \\u escape"),
                            }
                        }
                        _ => return self.err("malformed escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < 0x20 => return self.err("control character in a string"),
                b => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| format!("invalid UTF-8 before byte {}", self.i))
    }
}

#[cfg(test)]
mod tests {
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
}
