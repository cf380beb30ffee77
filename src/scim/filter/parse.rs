//! The filter grammar: a recursive-descent parser over the filter text, bounded
//! in length and depth.

use serde_json::Value;

use super::{Filter, MAX_DEPTH, MAX_LEN, Op, invalid};
use crate::scim::error::ScimError;

/// Parses a whole filter expression.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    if input.len() > MAX_LEN {
        return Err(invalid(format!("The filter is longer than {MAX_LEN} characters")));
    }
    let mut p = Parser { s: input, pos: 0 };
    let f = p.or_expr(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(invalid(format!("Unexpected input at position {}", p.pos)));
    }
    Ok(f)
}

/// Strips a core schema URN prefix (`urn:…:core:2.0:User:userName`), keeping
/// the case of the rest.
pub fn normalise_attr(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    for urn in [
        "urn:ietf:params:scim:schemas:core:2.0:user:",
        "urn:ietf:params:scim:schemas:core:2.0:group:",
    ] {
        if lower.starts_with(urn) {
            return path[urn.len()..].to_string();
        }
    }
    path.to_string()
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }
    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    /// A word: letters, digits and `_ - . : $` (attribute paths, operators).
    fn word(&mut self) -> &str {
        self.skip_ws();
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.:$".contains(c)))
            .unwrap_or(self.rest().len());
        self.pos += len;
        &self.s[start..self.pos]
    }
    /// Consumes `kw` (case-insensitive) when it is the next whole word.
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        if self.word().eq_ignore_ascii_case(kw) {
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.and_expr(depth)?;
        while self.keyword("or") {
            let right = self.and_expr(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.factor(depth)?;
        while self.keyword("and") {
            let right = self.factor(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn factor(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if depth >= MAX_DEPTH {
            return Err(invalid(format!("The filter nests deeper than {MAX_DEPTH} levels")));
        }
        if self.keyword("not") {
            if !self.eat('(') {
                return Err(invalid("Expected '(' after not"));
            }
            let inner = self.group(depth + 1)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat('(') {
            return self.group(depth + 1);
        }
        let attr = self.word().to_string();
        if attr.is_empty() || !attr.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(invalid(format!("Expected an attribute name at position {}", self.pos)));
        }
        let attr = normalise_attr(&attr).to_ascii_lowercase();
        if self.eat('[') {
            let inner = self.or_expr(depth + 1)?;
            if !self.eat(']') {
                return Err(invalid("Expected ']'"));
            }
            return Ok(Filter::ValuePath {
                attr,
                filter: Box::new(inner),
            });
        }
        let op_word = self.word().to_string();
        let op = Op::parse(&op_word).ok_or_else(|| invalid(format!("Unknown operator {op_word:?}")))?;
        if op == Op::Pr {
            return Ok(Filter::Cmp {
                attr,
                op,
                value: Value::Null,
            });
        }
        let value = self.value()?;
        Ok(Filter::Cmp { attr, op, value })
    }

    fn group(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let inner = self.or_expr(depth)?;
        if !self.eat(')') {
            return Err(invalid("Expected ')'"));
        }
        Ok(inner)
    }

    /// A JSON literal: a string, `true`, `false`, `null` or a number.
    fn value(&mut self) -> Result<Value, ScimError> {
        self.skip_ws();
        if self.rest().starts_with('"') {
            let bytes = self.rest().as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => break,
                    _ => i += 1,
                }
            }
            if i >= bytes.len() {
                return Err(invalid("Unterminated string"));
            }
            let literal = &self.rest()[..=i];
            let v: Value = serde_json::from_str(literal).map_err(|_| invalid("Invalid string literal"))?;
            self.pos += i + 1;
            return Ok(v);
        }
        let word = self.word().to_string();
        match word.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "null" => Ok(Value::Null),
            _ => word
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| invalid(format!("Expected a value, found {word:?}"))),
        }
    }
}
