//! Pipelined connections for the single-statement tenant reads
//! ([`super::TenantRead`]).
//!
//! Each read is one statement, its own implicit transaction (Bind, Execute,
//! Sync). On tokio-postgres many concurrent reads share a connection: their
//! statements go out back to back without waiting for the previous answer, so
//! the server process reads a batch of them per wake-up and the answers come
//! back in one read, where one connection per read (sqlx) pays a round trip,
//! two wake-ups on each side and a task switch for every statement. A Sync
//! ends each read's transaction, so its settings (`app.tenant_id`, the role)
//! end with it; an error aborts only its own statement.
//!
//! Only where the traffic stays on the machine or the URL turns TLS off
//! (`sslmode=disable`): this driver is built without TLS, and a read must never
//! travel less protected than the rest. Elsewhere (and behind a transaction
//! pooler, or on a command's small budget) the reads use the pool.

use std::{
    str::FromStr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use tokio_postgres::{Client, NoTls, Row, Statement, config::SslMode};

use super::{
    APP_ROLE,
    read_row::{ReadArg, driver_error},
};

/// How long opening a read connection may take (as the pool's acquire timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pipelined connections: each carries many reads at once, and fewer,
/// fuller batches cost fewer wake-ups.
const PIPELINES: u32 = 2;

/// The transaction pool's and the read connections' shares of a budget of
/// `total` connections (see [`super::Db::connect`]). Small budgets (the CLI
/// commands') stay whole, as does the whole budget when the reads cannot be
/// pipelined: there the reads use the pool.
pub(super) fn split_budget(total: u32, pipelined: bool) -> (u32, u32) {
    if !pipelined || total < 8 {
        return (total.max(1), 0);
    }
    (total - PIPELINES, PIPELINES)
}

/// The database's address for the pipelined reads, or why they cannot be
/// used with this URL.
pub(super) fn pipeline_config(url: &str) -> Result<tokio_postgres::Config, String> {
    let mut config =
        tokio_postgres::Config::from_str(url).map_err(|e| format!("the URL is not one tokio-postgres reads ({e})"))?;
    if config.get_password().is_none() {
        if let Ok(password) = std::env::var("PGPASSWORD") {
            config.password(password);
        } else if pgpass_exists() {
            return Err("the password may come from a .pgpass file, which only sqlx reads".into());
        }
    }
    let local = !config.get_hosts().is_empty() && super::is_local_database(url);
    match config.get_ssl_mode() {
        SslMode::Disable => {}
        SslMode::Prefer if local => {}
        _ => return Err("the database is reached over the network with TLS".into()),
    }
    config
        .application_name("tenantry-reads")
        .connect_timeout(CONNECT_TIMEOUT);
    Ok(config)
}

fn pgpass_exists() -> bool {
    let path = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".pgpass")));
    path.is_some_and(|p| p.exists())
}

/// Where the reads run and how to tell whether the database answers.
pub(super) struct Reads {
    /// The pool's options, for a direct connection attempt.
    options: PgConnectOptions,
    /// `None`: the reads use the pool.
    pipeline: Option<Pipeline>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("pipelines", &self.pipeline.as_ref().map_or(0, |p| p.slots.len()))
            .finish()
    }
}

impl Reads {
    pub(super) fn new(options: PgConnectOptions, pipeline: Option<(tokio_postgres::Config, u32)>) -> Self {
        let pipeline = pipeline.filter(|(_, size)| *size > 0).map(|(config, size)| Pipeline {
            config,
            slots: (0..size).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        });
        Self { options, pipeline }
    }

    pub(super) fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// Whether PostgreSQL accepts a new connection now (within a second).
    pub(super) async fn can_connect(&self) -> bool {
        // Boxed: opening a connection is a future of kilobytes.
        let connect = Box::pin(PgConnection::connect_with(&self.options));
        match tokio::time::timeout(Duration::from_secs(1), connect).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                true
            }
            _ => false,
        }
    }
}

/// A few connections, each shared by every read that lands on it.
pub(super) struct Pipeline {
    config: tokio_postgres::Config,
    slots: Box<[tokio::sync::Mutex<Option<Arc<Conn>>>]>,
    next: AtomicUsize,
}

/// One connection and the statements it has prepared.
struct Conn {
    client: Client,
    statements: Mutex<Vec<(&'static str, Statement)>>,
}

impl Pipeline {
    /// Runs `sql` with `args` on the next connection in turn, preparing it
    /// there first if it is new to it.
    pub(super) async fn query(&self, sql: &'static str, args: &[ReadArg]) -> Result<Vec<Row>, sqlx::Error> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let conn = self.conn(slot).await?;
        let prepared = conn
            .statements
            .lock()
            .expect("statements")
            .iter()
            .find(|(s, _)| *s == sql)
            .map(|(_, st)| st.clone());
        let statement = match prepared {
            Some(st) => st,
            None => {
                let types: Vec<_> = args.iter().map(ReadArg::pg_type).collect();
                let st = conn.client.prepare_typed(sql, &types).await.map_err(driver_error)?;
                conn.statements.lock().expect("statements").push((sql, st.clone()));
                st
            }
        };
        let params: Vec<_> = args.iter().map(ReadArg::as_sql).collect();
        conn.client.query(&statement, &params).await.map_err(driver_error)
    }

    /// The slot's connection, opened (again) if it has none or it closed: the
    /// server ended it (a restart, a terminated backend) or it broke.
    async fn conn(&self, slot: &tokio::sync::Mutex<Option<Arc<Conn>>>) -> Result<Arc<Conn>, sqlx::Error> {
        let mut held = slot.lock().await;
        if let Some(conn) = held.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(conn.clone());
        }
        *held = None;
        let conn = Arc::new(self.connect().await?);
        *held = Some(conn.clone());
        Ok(conn)
    }

    /// Boxed: opening a connection (startup, authentication) is a large future
    /// on a path a warm server rarely takes.
    fn connect(&self) -> BoxFuture<'_, Result<Conn, sqlx::Error>> {
        Box::pin(async {
            let connect = self.config.connect(NoTls);
            let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
                .map_err(driver_error)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "a pipelined read connection ended");
                }
            });
            client
                .batch_execute(&format!("SET ROLE {APP_ROLE}"))
                .await
                .map_err(driver_error)?;
            Ok(Conn {
                client,
                statements: Mutex::new(Vec::new()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{pipeline_config, split_budget};

    #[test]
    fn the_budget_is_shared_and_never_exceeded() {
        assert_eq!(split_budget(20, true), (18, 2));
        assert_eq!(split_budget(8, true), (6, 2));
        assert_eq!(split_budget(4, true), (4, 0), "a command's small pool stays whole");
        assert_eq!(
            split_budget(20, false),
            (20, 0),
            "reads that cannot be pipelined use the pool"
        );
        for total in 1..200 {
            let (pool, reads) = split_budget(total, true);
            assert_eq!(pool + reads, total.max(1));
            assert!(pool >= 1 && (reads >= 1 || total < 8));
        }
    }

    #[test]
    fn only_local_or_plaintext_urls_are_pipelined() {
        for url in [
            "postgres://u:p@127.0.0.1:5432/db",
            "postgres://u:p@localhost/db?sslmode=prefer",
            "postgres://u:p@[::1]:5432/db",
            "postgres://u:p@db.internal/db?sslmode=disable",
        ] {
            assert!(pipeline_config(url).is_ok(), "{url}");
        }
        for url in [
            "postgres://u:p@db.internal/db",
            "postgres://u:p@127.0.0.1/db?sslmode=require",
            "postgres://u:p@127.0.0.1/db?sslmode=verify-full",
            "postgres://u:p@127.0.0.1/db?statement-cache-capacity=0",
        ] {
            assert!(pipeline_config(url).is_err(), "{url}");
        }
    }
}
