//! `tenantry rotate-keys`: re-seals every secret at rest under the current
//! ENCRYPTION_KEY, so the previous keys can be dropped from the configuration.
//!
//! Decisions:
//! - Every sealed column is listed once in [`SEALED`], with the associated data
//!   its feature binds it to; a new sealed column belongs there too.
//! - Only values not yet under the current key id are picked (the id is the
//!   value's first bytes, so SQL can tell), in batches of one transaction each,
//!   walking the primary key: an interrupted run continues where it stopped,
//!   and a second run re-seals nothing.
//! - Rows are read `FOR UPDATE` inside their batch, so a concurrent write by the
//!   running servers is never overwritten with an older value.
//! - Cross-tenant by nature: it runs as the `rotate-keys` command on the platform
//!   handle (`Db::cli_command`). A value that no configured key opens is counted and left as it is.

use sqlx::{Row, postgres::PgRow};
use uuid::Uuid;

use crate::{
    auth::totp,
    crypto::SecretBox,
    db::{Db, TenantId},
    integrations::webhooks,
    oauth::{accounts, model::secret_context},
};

/// A table with sealed columns.
pub struct SealedTable {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    /// The column that, with the tenant, makes the associated data.
    context_column: &'static str,
    context: fn(tenant: Uuid, value: Uuid) -> Vec<u8>,
}

/// Every sealed column of the schema.
pub const SEALED: &[SealedTable] = &[
    SealedTable {
        table: "tenant_identity_providers",
        columns: &["client_secret_enc"],
        context_column: "tenant_id",
        context: |tenant, _| secret_context(tenant),
    },
    SealedTable {
        table: "oauth_tokens",
        columns: &["access_token_enc", "refresh_token_enc"],
        context_column: "user_id",
        context: accounts::token_context,
    },
    SealedTable {
        table: "webhook_endpoints",
        columns: &["secret_enc", "previous_secret_enc"],
        context_column: "id",
        context: |tenant, endpoint| webhooks::signing::seal_context(TenantId::from_trusted(tenant), endpoint),
    },
    SealedTable {
        table: "users",
        columns: &["totp_secret_enc", "totp_pending_enc"],
        context_column: "id",
        context: |tenant, user| totp::seal_context(TenantId::from_trusted(tenant), user),
    },
];

/// What a run did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows whose values now are under the current key.
    pub resealed: u64,
    /// Rows left as they were: no configured key opens them.
    pub failed: u64,
}

/// Progress of one table: rows done (re-sealed or failed) out of those pending at the start.
pub struct Progress<'a> {
    pub table: &'a str,
    pub done: u64,
    pub total: u64,
}

/// Re-seals every value not under `secrets`' current key, `batch_size` rows per
/// transaction; `progress` hears after every batch.
pub async fn run(
    db: &Db,
    secrets: &SecretBox,
    batch_size: i64,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Vec<TableReport>, sqlx::Error> {
    let mut reports = Vec::new();
    for table in SEALED {
        reports.push(rotate_table(db, secrets, table, batch_size.max(1), &mut progress).await?);
    }
    Ok(reports)
}

async fn rotate_table(
    db: &Db,
    secrets: &SecretBox,
    t: &SealedTable,
    batch_size: i64,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<TableReport, sqlx::Error> {
    let prefix = secrets.current_prefix();
    // Table and column names are the constants above, never input.
    let pending = t
        .columns
        .iter()
        .map(|c| format!("({c} IS NOT NULL AND substring({c} FROM 1 FOR length($1::bytea)) <> $1::bytea)"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut report = TableReport {
        table: t.table,
        resealed: 0,
        failed: 0,
    };
    let mut tx = db.cli_command("rotate-keys").tx().await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {} WHERE {pending}",
        t.table
    )))
    .bind(&prefix)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    progress(Progress {
        table: t.table,
        done: 0,
        total: total as u64,
    });

    let select = format!(
        "SELECT tenant_id, id, {ctx}, {cols} FROM {table} WHERE ({pending}) AND (tenant_id, id) > ($2, $3) \
         ORDER BY tenant_id, id LIMIT $4 FOR UPDATE",
        ctx = t.context_column,
        cols = t.columns.join(", "),
        table = t.table,
    );
    let sets: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 3))
        .collect();
    let update = format!(
        "UPDATE {} SET {} WHERE tenant_id = $1 AND id = $2",
        t.table,
        sets.join(", ")
    );

    let mut cursor = (Uuid::nil(), Uuid::nil());
    loop {
        let mut tx = db.cli_command("rotate-keys").tx().await?;
        let rows: Vec<PgRow> = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .bind(&prefix)
            .bind(cursor.0)
            .bind(cursor.1)
            .bind(batch_size)
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = rows.last() else { break };
        cursor = (last.try_get(0)?, last.try_get(1)?);
        for row in &rows {
            let (tenant, id, ctx_value): (Uuid, Uuid, Uuid) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let context = (t.context)(tenant, ctx_value);
            match reseal_row(secrets, row, t.columns.len(), &context) {
                Ok(values) => {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(update.clone())).bind(tenant).bind(id);
                    for v in values {
                        q = q.bind(v);
                    }
                    q.execute(&mut *tx).await?;
                    report.resealed += 1;
                }
                Err(e) => {
                    tracing::warn!(table = t.table, %tenant, %id, error = %e, "a sealed value could not be opened; left as it is");
                    report.failed += 1;
                }
            }
        }
        tx.commit().await?;
        progress(Progress {
            table: t.table,
            done: report.resealed + report.failed,
            total: total as u64,
        });
    }
    Ok(report)
}

/// The row's sealed values, each under the current key (NULLs stay NULL).
fn reseal_row(
    secrets: &SecretBox,
    row: &PgRow,
    columns: usize,
    context: &[u8],
) -> Result<Vec<Option<Vec<u8>>>, anyhow::Error> {
    (3..3 + columns)
        .map(|i| -> anyhow::Result<Option<Vec<u8>>> {
            let sealed: Option<Vec<u8>> = row.try_get(i)?;
            Ok(match sealed {
                Some(s) => Some(secrets.reseal(&s, context)?.unwrap_or(s)),
                None => None,
            })
        })
        .collect()
}
