//! Webhook endpoint and delivery SQL for the management API, on the
//! caller's tenant transaction (the delivery worker's own SQL is `worker`'s,
//! the enqueueing from audit rows `events`').

use uuid::Uuid;

use super::model::{DELIVERY_COLUMNS, DeliveryView, ENDPOINT_COLUMNS, EndpointRow};
use crate::{
    db::{TenantId, TenantTx},
    pagination::PageParams,
};

/// The endpoint, locked for the rest of the transaction when `lock`.
pub async fn find(tx: &mut TenantTx, id: Uuid, lock: bool) -> Result<Option<EndpointRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Inserts an endpoint: `(url, description, event_types)` and its sealed secret.
pub async fn insert(
    tx: &mut TenantTx,
    tenant: TenantId,
    id: Uuid,
    (url, description, event_types): (&str, &str, &[String]),
    secret_enc: Vec<u8>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, secret_enc) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant.get())
    .bind(id)
    .bind(url)
    .bind(description)
    .bind(event_types)
    .bind(secret_enc)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// One page of the tenant's endpoints, oldest first, and their total.
pub async fn list(tx: &mut TenantTx, page: &PageParams) -> Result<(Vec<EndpointRow>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&mut **tx)
        .await?;
    let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id LIMIT $1 OFFSET $2"
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((rows, total))
}

/// Changes `(url, description, event_types)` and `enabled`, each kept when
/// `None`; enabling clears the reason it was disabled.
pub async fn update(
    tx: &mut TenantTx,
    id: Uuid,
    (url, description, event_types): (Option<String>, Option<String>, Option<Vec<String>>),
    enabled: Option<bool>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = COALESCE($2, url), description = COALESCE($3, description), \
         event_types = COALESCE($4, event_types), enabled = COALESCE($5, enabled), \
         disabled_reason = CASE WHEN COALESCE($5, enabled) THEN NULL ELSE disabled_reason END, \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(url)
    .bind(description)
    .bind(event_types)
    .bind(enabled)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Makes `secret_enc` the secret; the replaced one signs too for `window_hours`.
pub async fn rotate_secret(
    tx: &mut TenantTx,
    id: Uuid,
    secret_enc: Vec<u8>,
    window_hours: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc, secret_enc = $2, \
         previous_expires_at = now() + make_interval(hours => $3), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(secret_enc)
    .bind(window_hours)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Queues a `event_type` ping to the endpoint, naming the actor.
pub async fn insert_test_delivery(
    tx: &mut TenantTx,
    tenant: TenantId,
    delivery_id: Uuid,
    endpoint: Uuid,
    event_type: &str,
    actor: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_type, payload) \
         VALUES ($1, $2, $3, $4, jsonb_build_object('type', $4::text, \
         'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         'data', jsonb_build_object('webhook_id', $3::uuid, 'actor_id', $5::uuid)))",
    )
    .bind(tenant.get())
    .bind(delivery_id)
    .bind(endpoint)
    .bind(event_type)
    .bind(actor)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// One page of the endpoint's deliveries, newest first, and their total.
pub async fn list_deliveries(
    tx: &mut TenantTx,
    endpoint: Uuid,
    page: &PageParams,
) -> Result<(Vec<DeliveryView>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(endpoint)
        .fetch_one(&mut **tx)
        .await?;
    let rows: Vec<DeliveryView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
         ORDER BY seq DESC LIMIT $2 OFFSET $3"
    )))
    .bind(endpoint)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((rows, total))
}

/// Queues the delivery again now; `None` when the endpoint has no such delivery.
pub async fn retry_delivery(tx: &mut TenantTx, endpoint: Uuid, id: Uuid) -> Result<Option<DeliveryView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now() \
         WHERE endpoint_id = $1 AND id = $2 RETURNING {DELIVERY_COLUMNS}"
    )))
    .bind(endpoint)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}
