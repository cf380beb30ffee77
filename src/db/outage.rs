//! Failing fast while the database is unreachable.
//!
//! With PostgreSQL down, opening a connection is refused at once, but the pool
//! keeps retrying until its acquire timeout (5 s) before giving up: every request
//! would hang 5 s before its 503. Once an acquire has timed out while the pool
//! was below its size limit (a pool that is merely busy times out only when
//! full, since it would otherwise have opened a connection), the database counts
//! as down: a single request at a time goes on trying (the probe), every other
//! one is answered 503 at once, until a transaction begins again. A pooled
//! connection found dead (a restart, a failover) is the first sign: one direct
//! connection attempt then tells whether the database is gone.

use std::sync::atomic::{AtomicBool, Ordering};

use super::connection_lost;

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
            Err(sqlx::Error::PoolTimedOut) if !pool_full => self.mark_down(),
            Err(_) => {}
        }
    }

    /// The database refused a new connection: down until a transaction begins.
    pub(super) fn mark_down(&self) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!("the database is unreachable: failing fast until it answers again");
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

impl super::Db {
    /// Runs `attempt` (one use of a pooled or read connection) under the outage
    /// guard, again on another connection while the one it got turns out to be
    /// gone: idle connections are only pinged after 30 s, so one that died
    /// sooner fails here before any work was done. Each failure closes its
    /// connection, so after at most one attempt per connection a fresh one is
    /// opened. `full` tells a busy source (an acquire timeout that is not an
    /// outage) from an unreachable database.
    pub(super) async fn on_a_live_connection<T, F>(
        &self,
        attempt: impl Fn() -> F,
        full: impl Fn() -> bool,
    ) -> Result<T, sqlx::Error>
    where
        F: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let _probe = self.outage.admit()?;
        let mut retries = self.pool.options().get_max_connections();
        let mut reachable = false;
        loop {
            let result = attempt().await;
            self.outage.outcome(&result, full());
            match result {
                Err(e) if retries > 0 && connection_lost(&e) => {
                    // The first sign of a restart or failover. While nothing
                    // answers, the pool would retry for its whole acquire
                    // timeout (5 s) before this request got its 503: one
                    // direct attempt tells, and the outage guard fails the
                    // others fast.
                    // After a restart every older connection is dead: once is enough.
                    if !reachable && !self.reads.can_connect().await {
                        self.outage.mark_down();
                        return Err(e);
                    }
                    reachable = true;
                    tracing::info!(error = ?e.to_string(), "a pooled connection was gone; retrying on another");
                    retries -= 1;
                }
                other => return other,
            }
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
