//! Connections of their own for the single-statement tenant reads
//! ([`super::TenantRead`]).
//!
//! sqlx's pool pings every connection it takes back (`return_to_pool` →
//! `ping()`, not configurable in 0.9) from a task it spawns for that: a read of
//! one statement costs two round trips and a task. A read statement either
//! completes, which leaves its connection idle and ready for the next one, or
//! fails with an error sqlx has already read to the end, so these connections go
//! back as they are. One whose statement was interrupted (the request was
//! dropped mid-flight) or whose connection was lost is closed, never reused.

use std::{
    ops::{Deref, DerefMut},
    sync::Mutex,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use sqlx::{Connection, Executor, PgConnection, postgres::PgConnectOptions};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::APP_ROLE;

/// How long a read waits for a connection (as the pool's acquire timeout).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle connection is tested before use after this long (as the pool does):
/// a firewall, pooler or server timeout may have dropped it.
const TEST_AFTER_IDLE: Duration = Duration::from_secs(30);

/// The transaction pool's and the read connections' shares of a budget of
/// `total` connections (see [`super::Db::connect`]). Small budgets (the CLI
/// commands') stay whole: there the reads use the pool.
pub(super) fn split_budget(total: u32, pooled: bool) -> (u32, u32) {
    if pooled || total < 8 {
        return (total.max(1), 0);
    }
    let reads = (total / 4).max(1);
    (total.saturating_sub(reads).max(1), reads)
}

#[derive(Debug)]
pub(super) struct ReadConnections {
    options: PgConnectOptions,
    size: u32,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: Semaphore,
}

impl ReadConnections {
    /// At most `size` connections, opened when first needed.
    pub(super) fn new(options: PgConnectOptions, size: u32) -> Self {
        Self {
            options,
            size,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size as usize),
        }
    }

    /// Whether there are any (none behind a pooler or on a small budget: the
    /// reads then use the pool).
    pub(super) fn enabled(&self) -> bool {
        self.size > 0
    }

    /// An idle connection, or a new one; `PoolTimedOut` when all are busy (or
    /// connecting hangs) for the acquire timeout.
    pub(super) async fn acquire(&self) -> Result<ReadConnection<'_>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
        let permit = tokio::time::timeout_at(deadline, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .expect("the read semaphore is never closed");
        let idle = self.idle.lock().expect("read connections").pop();
        let conn = match idle {
            Some((mut conn, since)) if since.elapsed() > TEST_AFTER_IDLE => match conn.ping().await {
                Ok(()) => conn,
                Err(_) => self.connect(deadline).await?,
            },
            Some((conn, _)) => conn,
            None => self.connect(deadline).await?,
        };
        Ok(ReadConnection {
            conn: Some(conn),
            owner: self,
            _permit: permit,
        })
    }

    /// Boxed: opening a connection (startup, TLS, authentication) is a future
    /// of kilobytes, and every read's future would otherwise be as large,
    /// copied on each move, for a path a warm server rarely takes.
    fn connect(&self, deadline: tokio::time::Instant) -> BoxFuture<'_, Result<PgConnection, sqlx::Error>> {
        let connect = async {
            let mut conn = PgConnection::connect_with(&self.options).await?;
            conn.execute(sqlx::AssertSqlSafe(format!("SET ROLE {APP_ROLE}")))
                .await?;
            Ok(conn)
        };
        Box::pin(async move {
            tokio::time::timeout_at(deadline, connect)
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
        })
    }

    /// Whether PostgreSQL accepts a new connection now (within a second).
    pub(super) async fn can_connect(&self) -> bool {
        let connect = Box::pin(PgConnection::connect_with(&self.options)); // as in `connect`
        match tokio::time::timeout(Duration::from_secs(1), connect).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                true
            }
            _ => false,
        }
    }

    /// Closes every idle connection: after one was found dead (a restart, a
    /// failover) the others, opened before it, most likely are too.
    pub(super) fn forget_idle(&self) {
        self.idle.lock().expect("read connections").clear();
    }

    /// Whether every connection is lent out: an acquire timeout then means
    /// busy, not unreachable.
    pub(super) fn all_busy(&self) -> bool {
        self.permits.available_permits() == 0
    }
}

/// A connection lent to one statement. Dropped without [`Self::release`], it
/// is closed instead of going back.
pub(super) struct ReadConnection<'a> {
    conn: Option<PgConnection>,
    owner: &'a ReadConnections,
    _permit: SemaphorePermit<'a>,
}

impl ReadConnection<'_> {
    /// Gives the connection back for the next read, as it is (no ping).
    pub(super) fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.owner
                .idle
                .lock()
                .expect("read connections")
                .push((conn, Instant::now()));
        }
    }
}

impl Deref for ReadConnection<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("lent until released")
    }
}

impl DerefMut for ReadConnection<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("lent until released")
    }
}

#[cfg(test)]
mod tests {
    use super::split_budget;

    #[test]
    fn the_budget_is_shared_and_never_exceeded() {
        assert_eq!(split_budget(20, false), (15, 5));
        assert_eq!(split_budget(8, false), (6, 2));
        assert_eq!(split_budget(4, false), (4, 0), "a command's small pool stays whole");
        assert_eq!(
            split_budget(20, true),
            (20, 0),
            "behind a pooler the reads use the pool"
        );
        for total in 1..200 {
            let (pool, reads) = split_budget(total, false);
            assert_eq!(pool + reads, total);
            assert!(pool >= 1 && (reads >= 1 || total < 8));
        }
    }
}
