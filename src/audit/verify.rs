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

use std::io::BufRead;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{export::CSV_COLUMNS, jsonb_text::Jsonb};

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

/// One row as the digest needs it.
struct Row {
    line: u64,
    tenant_id: Uuid,
    id: Uuid,
    seq: i64,
    values: Vec<Jsonb>,
    prev_hash: String,
    hash: String,
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

/// A CSV field as the value NDJSON would hold: JSON columns parsed, `seq` a
/// number, an unquoted empty field NULL.
fn csv_value(column: &str, field: Option<&str>) -> Result<Option<Jsonb>, String> {
    let Some(text) = field else { return Ok(None) };
    Ok(Some(match column {
        "old_values" | "new_values" => Jsonb::parse(text)?,
        "seq" => Jsonb::parse(text)?,
        _ => Jsonb::String(text.to_string()),
    }))
}

/// Builds a row from a field getter (NDJSON member or CSV column).
fn row_from(line: u64, get: impl Fn(&str) -> Result<Option<Jsonb>, VerifyError>) -> Result<Row, VerifyError> {
    let text = |name: &'static str| -> Result<Option<String>, VerifyError> {
        match get(name)? {
            None | Some(Jsonb::Null) => Ok(None),
            Some(Jsonb::String(s)) => Ok(Some(s)),
            Some(other) => Err(broken(line, name, "a string", other.to_pg_text())),
        }
    };
    let required = |name: &'static str| -> Result<String, VerifyError> {
        text(name)?.ok_or_else(|| broken(line, name, "a value", "nothing"))
    };
    let uuid = |name: &'static str| -> Result<Option<Uuid>, VerifyError> {
        text(name)?
            .map(|s| Uuid::parse_str(&s).map_err(|_| broken(line, name, "a UUID", s)))
            .transpose()
    };
    let uuid_value = |u: Option<Uuid>| u.map_or(Jsonb::Null, |u| Jsonb::String(u.to_string()));
    let text_value = |s: Option<String>| s.map_or(Jsonb::Null, Jsonb::String);
    let json = |name: &'static str| -> Result<Jsonb, VerifyError> { Ok(get(name)?.unwrap_or(Jsonb::Null)) };

    let tenant_id = uuid("tenant_id")?.ok_or_else(|| broken(line, "tenant_id", "a value", "nothing"))?;
    let id = uuid("id")?.ok_or_else(|| broken(line, "id", "a value", "nothing"))?;
    let seq = match get("seq")? {
        Some(Jsonb::Number(n)) => n.parse::<i64>().map_err(|_| broken(line, "seq", "an integer", n))?,
        other => {
            return Err(broken(
                line,
                "seq",
                "an integer",
                other.map_or("nothing".into(), |v| v.to_pg_text()),
            ));
        }
    };
    let created_at = required("created_at")?;
    // The export adds `Z`; the digest hashes the UTC time without it.
    let hashed_time = created_at.strip_suffix('Z').unwrap_or(&created_at).to_string();
    let mut values = vec![
        Jsonb::String(tenant_id.to_string()),
        Jsonb::String(id.to_string()),
        Jsonb::Number(seq.to_string()),
        Jsonb::String(hashed_time),
        uuid_value(uuid("actor_id")?),
        uuid_value(uuid("impersonator_id")?),
        Jsonb::String(required("action")?),
        Jsonb::String(required("resource_type")?),
        text_value(text("resource_id")?),
        json("old_values")?,
        json("new_values")?,
        text_value(text("ip_address")?),
        text_value(text("user_agent")?),
        text_value(text("request_id")?),
    ];
    if let Some(principal) = text("actor_principal")? {
        values.push(Jsonb::String(principal));
    }
    Ok(Row {
        line,
        tenant_id,
        id,
        seq,
        values,
        prev_hash: text("prev_hash")?.unwrap_or_default(),
        hash: required("hash")?,
    })
}

/// The hash `audit_row_digest` gives a row: hex of SHA-256(prev_hash bytes ‖ canonical text).
fn digest(prev_hash: &[u8], values: Vec<Jsonb>) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(Jsonb::Array(values).to_pg_text().as_bytes());
    hex::encode(h.finalize())
}

struct Chain {
    allow_partial: bool,
    heads: Vec<ChainHead>,
    rows: u64,
}

impl Chain {
    fn check(&mut self, row: Row) -> Result<(), VerifyError> {
        let fail = |field: &'static str, expected: String, found: String| {
            VerifyError::Broken(Box::new(Broken {
                line: row.line,
                id: Some(row.id),
                seq: Some(row.seq),
                field,
                expected,
                found,
            }))
        };
        let head = self.heads.iter().position(|h| h.tenant_id == row.tenant_id);
        match head {
            // The export orders rows by tenant, then seq.
            Some(i) if i + 1 != self.heads.len() => {
                return Err(fail(
                    "tenant_id",
                    "rows of one tenant together".into(),
                    format!("tenant {} again", row.tenant_id),
                ));
            }
            Some(i) => {
                let head = &self.heads[i];
                if row.seq != head.seq + 1 {
                    return Err(fail(
                        "seq",
                        (head.seq + 1).to_string(),
                        format!("{} (rows missing or out of order)", row.seq),
                    ));
                }
                if row.prev_hash != head.hash {
                    return Err(fail("prev_hash", head.hash.clone(), row.prev_hash.clone()));
                }
            }
            None if !self.allow_partial && row.seq != 1 => {
                return Err(fail(
                    "seq",
                    "1 (the chain's first row; --allow-partial accepts a later start)".into(),
                    row.seq.to_string(),
                ));
            }
            None if !self.allow_partial && !row.prev_hash.is_empty() => {
                return Err(fail(
                    "prev_hash",
                    "empty (the chain's first row)".into(),
                    row.prev_hash.clone(),
                ));
            }
            None => {}
        }
        let prev = hex::decode(&row.prev_hash).map_err(|_| fail("prev_hash", "hex".into(), row.prev_hash.clone()))?;
        let expected = digest(&prev, row.values.clone());
        if !expected.eq_ignore_ascii_case(&row.hash) {
            return Err(fail("hash", expected, row.hash.clone()));
        }
        let new_head = ChainHead {
            tenant_id: row.tenant_id,
            seq: row.seq,
            hash: row.hash.to_ascii_lowercase(),
        };
        match head {
            Some(i) => self.heads[i] = new_head,
            None => self.heads.push(new_head),
        }
        self.rows += 1;
        Ok(())
    }
}

/// One CSV record: the line it starts on, and its fields.
type CsvRecord = (u64, Vec<Option<String>>);

/// RFC 4180 records from a reader: `(first line, fields)`; an unquoted empty
/// field is `None` (SQL NULL), a quoted one `Some("")`.
struct CsvRecords<R> {
    input: R,
    line: u64,
}

impl<R: BufRead> CsvRecords<R> {
    fn new(input: R) -> Self {
        Self { input, line: 0 }
    }

    fn next_record(&mut self) -> Result<Option<CsvRecord>, VerifyError> {
        let mut buf = String::new();
        loop {
            buf.clear();
            if self.input.read_line(&mut buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !buf.trim_end_matches(['\r', '\n']).is_empty() {
                break;
            }
        }
        let start = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut in_quotes = false;
        let mut chars: Vec<char> = buf.chars().collect();
        let mut i = 0;
        loop {
            if i == chars.len() {
                if !in_quotes {
                    break;
                }
                // A quoted field spans lines.
                let mut more = String::new();
                if self.input.read_line(&mut more)? == 0 {
                    return Err(broken(start, "row", "a closing quote", "end of file"));
                }
                self.line += 1;
                chars.extend(more.chars());
                continue;
            }
            let c = chars[i];
            i += 1;
            if in_quotes {
                if c == '"' {
                    if chars.get(i) == Some(&'"') {
                        field.push('"');
                        i += 1;
                    } else {
                        in_quotes = false;
                    }
                } else {
                    field.push(c);
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !quoted => {
                    quoted = true;
                    in_quotes = true;
                }
                ',' => {
                    fields.push((quoted || !field.is_empty()).then(|| std::mem::take(&mut field)));
                    quoted = false;
                }
                '\r' | '\n' => {}
                c => field.push(c),
            }
        }
        fields.push((quoted || !field.is_empty()).then_some(field));
        Ok(Some((start, fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_tells_null_from_empty_and_reads_multiline_fields() {
        let text = "a,b,c,d\r\n\"x,\"\"y\"\"\",,\"\",\"two\nlines\"\r\n";
        let mut r = CsvRecords::new(text.as_bytes());
        r.next_record().unwrap();
        let (line, fields) = r.next_record().unwrap().unwrap();
        assert_eq!(line, 2);
        assert_eq!(
            fields,
            vec![
                Some("x,\"y\"".to_string()),
                None,
                Some(String::new()),
                Some("two\nlines".to_string())
            ]
        );
        assert!(r.next_record().unwrap().is_none());
    }
}
