//! `tenantry audit verify --file export.ndjson`: checks an audit export's hash
//! chain offline, with no database.
//!
//! Each row's hash is recomputed exactly as PostgreSQL's `audit_row_digest`
//! does — SHA-256 of the previous hash's bytes followed by the UTF-8 text of
//! `jsonb_build_array(tenant_id, id, seq, created_at, actor_id,
//! impersonator_id, action, resource_type, resource_id, old_values,
//! new_values, ip_address, user_agent, request_id[, actor_principal])` (the
//! last element only when set), rendered by [`super::jsonb_text`] — and each
//! row must link to the one before it (`seq` + 1, `prev_hash` = its `hash`).
//!
//! A chain starts at `seq` 1 with an empty `prev_hash`, unless `allow_partial`
//! (an export with `from=`): then a tenant's first row is taken as it is, and
//! the rest must still link to it. Removing a tenant's last rows cannot be seen
//! from the file alone: the report names each chain's head (`seq`, `hash`) to
//! compare with the live one or an earlier export.
//!
//! This file reads the rows (NDJSON here, CSV through `csv`); `row` turns one
//! into what the digest needs, and `chain` checks the links and hashes.

mod chain;
mod csv;
mod row;

use std::io::BufRead;

use uuid::Uuid;

use super::{export::CSV_COLUMNS, jsonb_text::Jsonb};
use chain::Chain;
use csv::{CsvRecords, csv_value};
use row::row_from;

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Ndjson,
    Csv,
}

/// The last row seen of one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub tenant_id: Uuid,
    pub seq: i64,
    pub hash: String,
}

/// A chain that verifies: rows checked and each tenant's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub rows: u64,
    pub heads: Vec<ChainHead>,
}

/// The first row that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    pub id: Option<Uuid>,
    pub seq: Option<i64>,
    /// What is wrong, e.g. `hash` or `prev_hash`.
    pub field: &'static str,
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(id) = self.id {
            write!(f, ", row {id}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(
            f,
            ": {} does not verify: expected {}, found {}",
            self.field, self.expected, self.found
        )
    }
}

/// Why a file could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the chain is broken at {0}")]
    Broken(Box<Broken>),
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
}

fn broken(line: u64, field: &'static str, expected: impl Into<String>, found: impl Into<String>) -> VerifyError {
    VerifyError::Broken(Box::new(Broken {
        line,
        id: None,
        seq: None,
        field,
        expected: expected.into(),
        found: found.into(),
    }))
}

/// Verifies the export read from `input`.
pub fn verify(input: impl BufRead, format: FileFormat, allow_partial: bool) -> Result<Verified, VerifyError> {
    let mut chain = Chain {
        allow_partial,
        heads: Vec::new(),
        rows: 0,
    };
    match format {
        FileFormat::Ndjson => {
            for (n, line) in input.lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let n = n as u64 + 1;
                let row = Jsonb::parse(&line)
                    .map_err(|e| broken(n, "row", "one JSON object", e))
                    .and_then(|v| row_from(n, |name| Ok(v.get(name).cloned())))?;
                chain.check(row)?;
            }
        }
        FileFormat::Csv => {
            let mut records = CsvRecords::new(input);
            let header = records
                .next_record()?
                .ok_or_else(|| broken(1, "header", "a CSV header", "nothing"))?;
            let names: Vec<&str> = header.1.iter().map(|f| f.as_deref().unwrap_or("")).collect();
            if names != CSV_COLUMNS {
                return Err(broken(1, "header", CSV_COLUMNS.join(","), names.join(",")));
            }
            while let Some((n, fields)) = records.next_record()? {
                if fields.len() != CSV_COLUMNS.len() {
                    return Err(broken(
                        n,
                        "row",
                        format!("{} fields", CSV_COLUMNS.len()),
                        format!("{} fields", fields.len()),
                    ));
                }
                let row = row_from(n, |name| {
                    let i = CSV_COLUMNS.iter().position(|c| *c == name).expect("a CSV column");
                    csv_value(name, fields[i].as_deref()).map_err(|e| broken(n, "row", format!("a valid {name}"), e))
                })?;
                chain.check(row)?;
            }
        }
    }
    Ok(Verified {
        rows: chain.rows,
        heads: chain.heads,
    })
}
