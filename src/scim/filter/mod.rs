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
//!
//! `parse` holds the grammar, `sql` the compiler, `eval` the evaluation against
//! JSON; this file the tree they share.

mod eval;
mod parse;
mod sql;
#[cfg(test)]
mod tests;

use serde_json::Value;

use super::error::ScimError;

pub use eval::lookup;
pub use parse::{normalise_attr, parse};
pub use sql::{Bind, Column, Kind, to_sql};

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
