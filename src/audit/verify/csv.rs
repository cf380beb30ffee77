//! CSV exports: RFC 4180 records, and a field read as the value the NDJSON
//! export would hold.

use std::io::BufRead;

use super::{VerifyError, broken};
use crate::audit::jsonb_text::Jsonb;

/// A CSV field as the value NDJSON would hold: JSON columns parsed, `seq` a
/// number, an unquoted empty field NULL.
pub(super) fn csv_value(column: &str, field: Option<&str>) -> Result<Option<Jsonb>, String> {
    let Some(text) = field else { return Ok(None) };
    Ok(Some(match column {
        "old_values" | "new_values" => Jsonb::parse(text)?,
        "seq" => Jsonb::parse(text)?,
        _ => Jsonb::String(text.to_string()),
    }))
}

/// One CSV record: the line it starts on, and its fields.
type CsvRecord = (u64, Vec<Option<String>>);

/// RFC 4180 records from a reader: `(first line, fields)`; an unquoted empty
/// field is `None` (SQL NULL), a quoted one `Some("")`.
pub(super) struct CsvRecords<R> {
    input: R,
    line: u64,
}

impl<R: BufRead> CsvRecords<R> {
    pub(super) fn new(input: R) -> Self {
        Self { input, line: 0 }
    }

    pub(super) fn next_record(&mut self) -> Result<Option<CsvRecord>, VerifyError> {
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
