//! Failing fast while the database is unreachable.
//!
//! With PostgreSQL down, opening a connection is refused at once, but the pool
//! keeps retrying until its acquire timeout (5 s) before giving up: every request
//! would hang 5 s before its 503. Once an acquire has timed out while the pool
//! was below its size limit (a pool that is merely busy times out only when
//! full, since it would otherwise have opened a connection), the database counts
//! as down: a single request at a time goes on trying (the probe), every other
//! one is answered 503 at once, until a transaction begins again.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub(super) struct Outage {
    down: AtomicBool,
    probing: AtomicBool,
}

/// Held by the request that is finding out whether the database is back.
pub(super) struct Probe<'a>(Option<&'a Outage>);

impl Outage {
    /// `Err` when the database is down and another request is already probing;
    /// otherwise the caller may try (and is the probe if the database is down).
    pub(super) fn admit(&self) -> Result<Probe<'_>, sqlx::Error> {
        if !self.down.load(Ordering::Acquire) {
            return Ok(Probe(None));
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            return Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "the database is unreachable (failing fast while another request probes it)",
            )));
        }
        Ok(Probe(Some(self)))
    }

    /// Records how an attempt ended: a timeout below the size limit means down.
    pub(super) fn outcome<T>(&self, result: &Result<T, sqlx::Error>, pool_full: bool) {
        match result {
            Ok(_) => self.down.store(false, Ordering::Release),
            Err(sqlx::Error::PoolTimedOut) if !pool_full => {
                if !self.down.swap(true, Ordering::AcqRel) {
                    tracing::warn!("the database is unreachable: failing fast until it answers again");
                }
            }
            Err(_) => {}
        }
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if let Some(outage) = self.0 {
            outage.probing.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_down_one_request_probes_and_the_others_fail_at_once() {
        let outage = Outage::default();
        assert!(outage.admit().is_ok(), "up: everyone tries");
        outage.outcome::<()>(&Err(sqlx::Error::PoolTimedOut), true);
        let (a, b) = (outage.admit(), outage.admit());
        assert!(a.is_ok() && b.is_ok(), "a full, busy pool is not an outage");
        drop((a, b));
        outage.outcome::<()>(&Err(sqlx::Error::PoolTimedOut), false);

        let probe = outage.admit().expect("the first request probes");
        assert!(outage.admit().is_err(), "the others fail fast");
        drop(probe);
        let probe = outage.admit().expect("the next probe");
        outage.outcome(&Ok(()), false);
        drop(probe);
        let (a, b) = (outage.admit(), outage.admit());
        assert!(a.is_ok() && b.is_ok(), "back up: everyone tries again");
    }
}
