//! Evaluating a filter against a JSON element (PATCH value paths).

use serde_json::Value;

use super::{Filter, Op};

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
