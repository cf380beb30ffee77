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
//!
//! `parse` reads the text, `number` renders a number as `numeric_out` does, and
//! `text` writes a value back out as `jsonb_out`.

mod number;
mod parse;
#[cfg(test)]
mod tests;
mod text;

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
}
