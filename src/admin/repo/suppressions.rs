//! SQL of the suppression list's admin API (`admin::email_suppressions`);
//! the list's writer for SES notifications is `email::suppression_list`.

use crate::{
    admin::email_suppressions::{SuppressionFilter, SuppressionView},
    db::PlatformTx,
    email::suppression_list::SuppressionReason,
};

/// One page of suppressed addresses, newest first, and their total.
pub async fn list(tx: &mut PlatformTx, filter: &SuppressionFilter) -> Result<(Vec<SuppressionView>, i64), sqlx::Error> {
    const WHERE: &str =
        "WHERE ($1::text IS NULL OR strpos(email, lower($1)) > 0) AND ($2::text IS NULL OR reason = $2)";
    let search = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let reason = filter.reason.map(SuppressionReason::as_str);
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM email_suppressions {WHERE}"
    )))
    .bind(search)
    .bind(reason)
    .fetch_one(&mut **tx)
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT email, reason, details, created_at, updated_at FROM email_suppressions {WHERE} \
         ORDER BY created_at DESC, email LIMIT $3 OFFSET $4"
    )))
    .bind(search)
    .bind(reason)
    .bind(filter.page.limit())
    .bind(filter.page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((items, total))
}

/// Removes the address from the list; the removed entry.
pub async fn delete(tx: &mut PlatformTx, email: &str) -> Result<Option<SuppressionView>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM email_suppressions WHERE email = lower(btrim($1)) \
         RETURNING email, reason, details, created_at, updated_at",
    )
    .bind(email)
    .fetch_optional(&mut **tx)
    .await
}
