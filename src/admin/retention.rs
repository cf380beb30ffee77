//! Retention: the rules of the maintenance job that prune what grows without
//! bound — sign-in history, security events, dead outbox mail — after their
//! configured period (`RETENTION_*_DAYS`), and spent OAuth states at once.
//!
//! Decisions:
//! - Each rule deletes in batches of [`BATCH`] rows, each batch its own short
//!   transaction (`DELETE … WHERE ctid = ANY(ARRAY(SELECT ctid … LIMIT n))`, a
//!   TID scan), so a first run over years of rows never holds row locks or an
//!   open transaction for long, and sign-ins keep writing meanwhile.
//! - The audit log is never pruned here: it is the tamper-evident chain. It goes
//!   only with its tenant (`ON DELETE CASCADE`).
//! - A period of 0 days keeps that kind of row forever.

use serde_json::{Map, Value, json};

use crate::{app::AppState, config::Retention, db::PlatformAccess};

/// Rows per batch (one short transaction each).
pub const BATCH: i64 = 5000;

/// Longer periods are read as this (about 270 years: forever, within date range).
const MAX_DAYS: u32 = 100_000;

/// One pruning rule: which rows of which table have outlived their use.
pub struct Rule {
    /// The name the run's counts and `/admin/maintenance/status` use.
    pub name: &'static str,
    table: &'static str,
    /// The rows to delete; `$1` is the retention period in days when `days` is set.
    condition: &'static str,
    days: fn(&Retention) -> Option<u32>,
}

/// Every retention rule, in the order they run.
pub const RULES: &[Rule] = &[
    Rule {
        name: "login_attempts",
        table: "login_attempts",
        condition: "created_at < now() - make_interval(days => $1)",
        days: |r| Some(r.login_attempts_days),
    },
    Rule {
        name: "security_events",
        table: "security_events",
        condition: "created_at < now() - make_interval(days => $1)",
        days: |r| Some(r.security_events_days),
    },
    Rule {
        name: "dead_emails",
        table: "email_outbox",
        condition: "status = 'dead' AND created_at < now() - make_interval(days => $1)",
        days: |r| Some(r.dead_email_days),
    },
    Rule {
        name: "oauth_states",
        table: "oauth_states",
        condition: "used_at IS NOT NULL OR expires_at < now()",
        days: |_| None,
    },
];

impl Rule {
    /// The configured period in days; `None` for rules that prune at once.
    pub fn retention_days(&self, retention: &Retention) -> Option<u32> {
        (self.days)(retention)
    }

    /// Deletes every matching row, batch by batch; answers how many went.
    async fn prune(&self, state: &AppState, access: &PlatformAccess) -> Result<u64, sqlx::Error> {
        let days = self.retention_days(&state.config.retention);
        if days == Some(0) {
            return Ok(0);
        }
        let sql = format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {condition} LIMIT {BATCH}))",
            table = self.table,
            condition = self.condition,
        );
        let mut total = 0;
        loop {
            let mut tx = access.tx().await?;
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            if let Some(days) = days {
                query = query.bind(days.min(MAX_DAYS) as i32);
            }
            let n = query.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            total += n;
            if n < BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

/// Runs every rule; answers rows removed per rule name.
pub async fn prune_all(state: &AppState, access: &PlatformAccess) -> Result<Map<String, Value>, sqlx::Error> {
    let mut counts = Map::new();
    for rule in RULES {
        let removed = rule.prune(state, access).await?;
        counts.insert(rule.name.to_string(), json!(removed));
    }
    Ok(counts)
}
