//! SQL of the super-admin API (`admin::*`) and the platform console pages,
//! on the platform transaction of `SuperAdmin`: one module per view.

pub mod maintenance;
pub mod overview;
pub mod security;
pub mod suppressions;

use time::Date;

/// Successful and failed sign-ins on one UTC day.
#[derive(sqlx::FromRow)]
pub struct DaySignIns {
    pub date: Date,
    pub succeeded: i64,
    pub failed: i64,
}

/// Sign-ins per UTC day over the last `days` days (days without any are
/// absent), from the sign-in history the threat views also read.
pub async fn sign_ins_per_day(conn: &mut sqlx::PgConnection, days: i64) -> Result<Vec<DaySignIns>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS date, \
         count(*) FILTER (WHERE success) AS succeeded, count(*) FILTER (WHERE NOT success) AS failed \
         FROM login_attempts \
         WHERE created_at >= ((now() AT TIME ZONE 'UTC')::date - ($1::int - 1)) AT TIME ZONE 'UTC' \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(days as i32)
    .fetch_all(conn)
    .await
}
