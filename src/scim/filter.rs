//! The SCIM filter grammar (RFC 7644 §3.4.2.2): `eq ne co sw ew pr gt ge lt
//! le`, `and or not`, parentheses and value paths (`emails[type eq "work"]`),
//! attribute names and operators case-insensitive.
//!
//! A filter is parsed into a [`Filter`] tree and then either compiled to a
//! parameterised SQL condition over a whitelist of attributes ([`to_sql`]:
//! values are always bind parameters, never spliced into the text) or
//! evaluated against a JSON element ([`Filter::matches`], for PATCH value
//! paths). Hostile input is bounded: at most [`MAX_LEN`] characters and
//! [`MAX_DEPTH`] levels of nesting; anything else is `invalidFilter`.

use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::error::ScimError;

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 2048;
/// Deepest nesting of parentheses, `not` and value paths.
pub const MAX_DEPTH: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
    Pr,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "pr" => Op::Pr,
            _ => return None,
        })
    }
}

/// A parsed filter. Attribute paths are kept as written (lower-cased), e.g.
/// `name.givenname`; value paths keep the outer attribute and an inner filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp { attr: String, op: Op, value: Value },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    ValuePath { attr: String, filter: Box<Filter> },
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidFilter", detail)
}

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

/// The SQL type of a filterable attribute.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Compared case-insensitively (`caseExact: false`).
    Text,
    /// Compared exactly (`caseExact: true`: ids, externalId).
    ExactText,
    Bool,
    Time,
}

/// Where a filterable attribute lives: an SQL expression over the resource's
/// row. `wrap` (e.g. an `EXISTS (… {cond} …)` over a member table) encloses
/// the condition for multi-valued attributes.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub expr: &'static str,
    pub kind: Kind,
    pub wrap: Option<&'static str>,
}

/// A bind parameter of a compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Bool(bool),
    Time(OffsetDateTime),
}

/// Compiles `f` to an SQL condition whose parameters start at `$first`;
/// `resolve` maps a (lower-cased) attribute path to its column, `None` for an
/// attribute that cannot be filtered on (400 `invalidFilter`).
pub fn to_sql(
    f: &Filter,
    resolve: &dyn Fn(&str) -> Option<Column>,
    first: usize,
) -> Result<(String, Vec<Bind>), ScimError> {
    let mut binds = Vec::new();
    let sql = compile(f, resolve, first, &mut binds)?;
    Ok((sql, binds))
}

fn compile(
    f: &Filter,
    resolve: &dyn Fn(&str) -> Option<Column>,
    first: usize,
    binds: &mut Vec<Bind>,
) -> Result<String, ScimError> {
    Ok(match f {
        Filter::And(a, b) => format!(
            "({} AND {})",
            compile(a, resolve, first, binds)?,
            compile(b, resolve, first, binds)?
        ),
        Filter::Or(a, b) => format!(
            "({} OR {})",
            compile(a, resolve, first, binds)?,
            compile(b, resolve, first, binds)?
        ),
        Filter::Not(a) => format!("(NOT coalesce({}, false))", compile(a, resolve, first, binds)?),
        Filter::ValuePath { attr, filter } => {
            // `emails[value eq "x"]` is `emails.value eq "x"` over our single-valued storage.
            let prefixed = prefix_attrs(filter, attr);
            compile(&prefixed, resolve, first, binds)?
        }
        Filter::Cmp { attr, op, value } => {
            let col = resolve(attr).ok_or_else(|| invalid(format!("Filtering on {attr:?} is not supported")))?;
            let cond = comparison(col, *op, value, first, binds)?;
            match col.wrap {
                Some(wrap) => wrap.replace("{cond}", &cond),
                None => cond,
            }
        }
    })
}

fn prefix_attrs(f: &Filter, outer: &str) -> Filter {
    match f {
        Filter::Cmp { attr, op, value } => Filter::Cmp {
            attr: format!("{outer}.{attr}"),
            op: *op,
            value: value.clone(),
        },
        Filter::And(a, b) => Filter::And(Box::new(prefix_attrs(a, outer)), Box::new(prefix_attrs(b, outer))),
        Filter::Or(a, b) => Filter::Or(Box::new(prefix_attrs(a, outer)), Box::new(prefix_attrs(b, outer))),
        Filter::Not(a) => Filter::Not(Box::new(prefix_attrs(a, outer))),
        Filter::ValuePath { attr, filter } => Filter::ValuePath {
            attr: format!("{outer}.{attr}"),
            filter: filter.clone(),
        },
    }
}

fn comparison(col: Column, op: Op, value: &Value, first: usize, binds: &mut Vec<Bind>) -> Result<String, ScimError> {
    let e = col.expr;
    if op == Op::Pr {
        return Ok(match col.kind {
            Kind::Text | Kind::ExactText => format!("({e} IS NOT NULL AND {e} <> '')"),
            Kind::Bool | Kind::Time => format!("({e} IS NOT NULL)"),
        });
    }
    let n = first + binds.len();
    match col.kind {
        Kind::Bool => {
            let b = match value {
                Value::Bool(b) => *b,
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return Err(invalid("A boolean attribute is compared with true or false")),
            };
            let sql = match op {
                Op::Eq => format!("({e} = ${n})"),
                Op::Ne => format!("({e} <> ${n})"),
                _ => return Err(invalid("A boolean attribute supports eq, ne and pr only")),
            };
            binds.push(Bind::Bool(b));
            Ok(sql)
        }
        Kind::Time => {
            let t = value
                .as_str()
                .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                .ok_or_else(|| invalid("A date attribute is compared with an RFC 3339 timestamp"))?;
            let sym = match op {
                Op::Eq => "=",
                Op::Ne => "<>",
                Op::Gt => ">",
                Op::Ge => ">=",
                Op::Lt => "<",
                Op::Le => "<=",
                _ => return Err(invalid("A date attribute supports eq ne gt ge lt le pr")),
            };
            binds.push(Bind::Time(t));
            Ok(format!("({e} {sym} ${n})"))
        }
        Kind::Text | Kind::ExactText => {
            let s = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(invalid("A string attribute is compared with a string")),
            };
            let (l, r) = match col.kind {
                Kind::Text => (format!("lower({e})"), format!("lower(${n})")),
                _ => (e.to_string(), format!("${n}")),
            };
            let sql = match op {
                Op::Eq => format!("({l} = {r})"),
                Op::Ne => format!("({l} IS DISTINCT FROM {r})"),
                Op::Co => format!("(strpos({l}, {r}) > 0)"),
                Op::Sw => format!("starts_with({l}, {r})"),
                Op::Ew => format!("(right({l}, length({r})) = {r})"),
                Op::Gt => format!("({l} > {r})"),
                Op::Ge => format!("({l} >= {r})"),
                Op::Lt => format!("({l} < {r})"),
                Op::Le => format!("({l} <= {r})"),
                Op::Pr => unreachable!("handled above"),
            };
            binds.push(Bind::Text(s));
            Ok(sql)
        }
    }
}

impl Filter {
    /// Evaluates the filter against one JSON object (an element of a
    /// multi-valued attribute, for PATCH paths like `members[value eq "…"]`).
    /// Strings compare case-insensitively.
    pub fn matches(&self, elem: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(elem) && b.matches(elem),
            Filter::Or(a, b) => a.matches(elem) || b.matches(elem),
            Filter::Not(a) => !a.matches(elem),
            Filter::ValuePath { attr, filter } => match lookup(elem, attr) {
                Some(Value::Array(items)) => items.iter().any(|i| filter.matches(i)),
                Some(v) => filter.matches(v),
                None => false,
            },
            Filter::Cmp { attr, op, value } => {
                let actual = lookup(elem, attr);
                if *op == Op::Pr {
                    return actual.is_some_and(|v| !v.is_null() && v != &Value::String(String::new()));
                }
                let Some(actual) = actual else { return *op == Op::Ne };
                let (a, b) = (text_of(actual), text_of(value));
                match op {
                    Op::Eq => a == b,
                    Op::Ne => a != b,
                    Op::Co => a.contains(&b),
                    Op::Sw => a.starts_with(&b),
                    Op::Ew => a.ends_with(&b),
                    Op::Gt => a > b,
                    Op::Ge => a >= b,
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Pr => unreachable!("handled above"),
                }
            }
        }
    }
}

/// A case-insensitive look-up of a dotted attribute path in a JSON object.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, seg| {
        cur.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(seg))
            .map(|(_, v)| v)
    })
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
