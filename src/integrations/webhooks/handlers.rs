//! `/api/v1/webhooks…` [tenant:manage]: endpoints, their secrets and deliveries.

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::{
    events::{self, TEST_EVENT},
    model::{
        DELIVERY_COLUMNS, DeliveryView, ENDPOINT_COLUMNS, EndpointRow, Enqueued, EventTypes, NewWebhook,
        WebhookChanges, WebhookView, WebhookWithSecret,
    },
    policy, signing,
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    db::TenantTx,
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::{Page, PageParams},
    rbac::perm,
};

/// How long deliveries are also signed with the secret a rotation replaced.
const ROTATION_WINDOW_HOURS: i64 = 24;

/// Checks the URL (syntax and every address it resolves to) and the event types.
async fn validate(
    state: &AppState,
    url: Option<&str>,
    event_types: Option<&[String]>,
    description: Option<&str>,
) -> ApiResult<()> {
    let mut v = Validator::new();
    if let Some(url) = url {
        if url.len() > 2048 {
            v.push("url", "must be at most 2048 characters");
        } else if let Err(e) = policy(&state.config).check(url).await {
            v.push("url", e.to_string());
        }
    }
    if let Some(types) = event_types {
        v.check(
            !types.is_empty(),
            "event_types",
            "must name at least one event type (or `*`)",
        );
        for (i, t) in types.iter().enumerate() {
            if !events::is_known(t) {
                v.push(
                    &format!("event_types[{i}]"),
                    format!("`{t}` is not an event type (see GET /api/v1/webhooks/event-types)"),
                );
            }
        }
    }
    if description.is_some_and(|d| d.chars().count() > 500) {
        v.push("description", "must be at most 500 characters");
    }
    v.finish()
}

/// The types in a stable order without duplicates.
fn normalize(types: &[String]) -> Vec<String> {
    let mut out: Vec<String> = types.to_vec();
    out.sort();
    out.dedup();
    out
}

async fn fetch(tx: &mut TenantTx, id: Uuid, lock: bool) -> ApiResult<EndpointRow> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::not_found("Webhook"))
}

/// Registers an endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    request_body = NewWebhook,
    responses((status = 201, body = WebhookWithSecret), (status = 403, description = "Missing tenant:manage"),
        (status = 422, description = "Invalid or refused URL, unknown event type")))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiJson(input): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, ApiJson<WebhookWithSecret>)> {
    let url = input.url.trim().to_string();
    let description = input.description.unwrap_or_default().trim().to_string();
    validate(&state, Some(&url), Some(&input.event_types), Some(&description)).await?;
    let id = Uuid::new_v4();
    let secret = signing::new_secret();
    let sealed = state
        .secrets
        .seal_str(&secret, &signing::seal_context(ctx.tenant_id, id));
    sqlx::query(
        "INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, secret_enc) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ctx.tenant_id.get())
    .bind(id)
    .bind(&url)
    .bind(&description)
    .bind(normalize(&input.event_types))
    .bind(sealed)
    .execute(&mut *tx)
    .await?;
    let view = WebhookView::from(fetch(&mut tx, id, false).await?);
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::WebhookCreated, "webhook", id).new_values(&view),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(WebhookWithSecret { webhook: view, secret }),
    ))
}

/// The tenant's endpoints.
#[utoipa::path(get, path = "", tag = "webhooks", security(("bearer" = ["tenant:manage"])), params(PageParams),
    responses((status = 200, body = Page<WebhookView>), (status = 403, description = "Missing tenant:manage")))]
pub async fn list_webhooks(
    Authz { mut tx, .. }: Authz<perm::TenantManage>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<Page<WebhookView>>> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id LIMIT $1 OFFSET $2"
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *tx)
    .await?;
    Ok(ApiJson(page.wrap(rows.into_iter().map(Into::into).collect(), total)))
}

/// Every event type an endpoint may subscribe to (`*` subscribes to all).
#[utoipa::path(get, path = "/event-types", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    responses((status = 200, body = EventTypes), (status = 403, description = "Missing tenant:manage")))]
pub async fn list_event_types(_: Authz<perm::TenantManage>) -> ApiJson<EventTypes> {
    ApiJson(EventTypes {
        event_types: events::event_types().to_vec(),
    })
}

/// One endpoint.
#[utoipa::path(get, path = "/{id}", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookView), (status = 404, description = "No such webhook")))]
pub async fn get_webhook(
    Authz { mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<WebhookView>> {
    Ok(ApiJson(fetch(&mut tx, id, false).await?.into()))
}

/// Changes an endpoint; `enabled: true` re-enables a disabled one.
#[utoipa::path(put, path = "/{id}", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path)), request_body = WebhookChanges,
    responses((status = 200, body = WebhookView), (status = 404, description = "No such webhook"),
        (status = 422, description = "Invalid or refused URL, unknown event type")))]
pub async fn update_webhook(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(changes): ApiJson<WebhookChanges>,
) -> ApiResult<ApiJson<WebhookView>> {
    let old = WebhookView::from(fetch(&mut tx, id, true).await?);
    let url = changes.url.map(|u| u.trim().to_string());
    let description = changes.description.map(|d| d.trim().to_string());
    validate(
        &state,
        url.as_deref(),
        changes.event_types.as_deref(),
        description.as_deref(),
    )
    .await?;
    sqlx::query(
        "UPDATE webhook_endpoints SET url = COALESCE($2, url), description = COALESCE($3, description), \
         event_types = COALESCE($4, event_types), enabled = COALESCE($5, enabled), \
         disabled_reason = CASE WHEN COALESCE($5, enabled) THEN NULL ELSE disabled_reason END, \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(url)
    .bind(description)
    .bind(changes.event_types.as_deref().map(normalize))
    .bind(changes.enabled)
    .execute(&mut *tx)
    .await?;
    let new = WebhookView::from(fetch(&mut tx, id, false).await?);
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::WebhookUpdated, "webhook", id)
            .old(&old)
            .new_values(&new),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(new))
}

/// Removes an endpoint and its deliveries.
#[utoipa::path(delete, path = "/{id}", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such webhook")))]
pub async fn delete_webhook(
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let old = WebhookView::from(fetch(&mut tx, id, true).await?);
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::WebhookDeleted, "webhook", id).old(&old),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret (shown once). For 24 h deliveries carry a signature
/// under each secret, so receivers can switch without losing events.
#[utoipa::path(post, path = "/{id}/rotate-secret", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookWithSecret), (status = 404, description = "No such webhook")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<WebhookWithSecret>> {
    fetch(&mut tx, id, true).await?;
    let secret = signing::new_secret();
    let sealed = state
        .secrets
        .seal_str(&secret, &signing::seal_context(ctx.tenant_id, id));
    sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc, secret_enc = $2, \
         previous_expires_at = now() + make_interval(hours => $3), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(sealed)
    .bind(ROTATION_WINDOW_HOURS as i32)
    .execute(&mut *tx)
    .await?;
    let view = WebhookView::from(fetch(&mut tx, id, false).await?);
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::WebhookSecretRotated, "webhook", id)
            .new_values(json!({"previous_secret_expires_at": audit::timestamp(view.previous_secret_expires_at)})),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(WebhookWithSecret { webhook: view, secret }))
}

/// Queues a `webhook.test` ping to the endpoint.
#[utoipa::path(post, path = "/{id}/test", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = Enqueued), (status = 404, description = "No such webhook")))]
pub async fn test_webhook(
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, ApiJson<Enqueued>)> {
    fetch(&mut tx, id, false).await?;
    let delivery_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_type, payload) \
         VALUES ($1, $2, $3, $4, jsonb_build_object('type', $4::text, \
         'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         'data', jsonb_build_object('webhook_id', $3::uuid, 'actor_id', $5::uuid)))",
    )
    .bind(ctx.tenant_id.get())
    .bind(delivery_id)
    .bind(id)
    .bind(TEST_EVENT)
    .bind(ctx.user_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, ApiJson(Enqueued { delivery_id })))
}

/// The endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/{id}/deliveries", tag = "webhooks", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<DeliveryView>), (status = 404, description = "No such webhook")))]
pub async fn list_deliveries(
    Authz { mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<Page<DeliveryView>>> {
    fetch(&mut tx, id, false).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<DeliveryView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
         ORDER BY seq DESC LIMIT $2 OFFSET $3"
    )))
    .bind(id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *tx)
    .await?;
    Ok(ApiJson(page.wrap(rows, total)))
}

/// Queues a delivery again now (e.g. one that was given up).
#[utoipa::path(post, path = "/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = DeliveryView), (status = 404, description = "No such webhook or delivery")))]
pub async fn retry_delivery(
    Authz { mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath((id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, ApiJson<DeliveryView>)> {
    let view: DeliveryView = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now() \
         WHERE endpoint_id = $1 AND id = $2 RETURNING {DELIVERY_COLUMNS}"
    )))
    .bind(id)
    .bind(delivery_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("Delivery"))?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, ApiJson(view)))
}
