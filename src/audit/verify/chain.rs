//! The chain check: each row links to the one before it in its tenant's chain
//! and carries the hash recomputed from its values.

use super::{
    Broken, ChainHead, VerifyError,
    row::{Row, digest},
};

pub(super) struct Chain {
    pub(super) allow_partial: bool,
    pub(super) heads: Vec<ChainHead>,
    pub(super) rows: u64,
}

impl Chain {
    pub(super) fn check(&mut self, row: Row) -> Result<(), VerifyError> {
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
