//! Compiling a filter to a parameterised SQL condition over a whitelist of
//! attributes: values are always bind parameters, never spliced into the text.

use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{Filter, Op, invalid};
use crate::scim::error::ScimError;

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
