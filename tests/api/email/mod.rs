//! Email delivery end to end: the outbox and its worker against a local SES
//! endpoint and SMTP sink, suppression, and the SNS webhook.

mod outbox;
mod providers;
mod refusals;
pub(crate) mod support;
mod webhook;

use serde_json::Value;
use sqlx::PgConnection;
use tenantry::{
    db::TenantId,
    email::{EmailTemplate, enqueue},
};
use uuid::Uuid;

use crate::helpers::{TestApp, TestConfig};
use support::{FakeSes, SmtpSink};

/// SES at the fake endpoint, SMTP fallback at the sink, worker off (tests drain).
pub fn mail_config(ses: &FakeSes, smtp: &SmtpSink) -> TestConfig {
    smtp.config()
        .set("EMAIL_PROVIDER", "ses")
        .set("AWS_ENDPOINT_URL", &ses.url)
        .set("AWS_REGION", "eu-central-1")
        .set("AWS_ACCESS_KEY_ID", "test-access-key")
        .set("AWS_SECRET_ACCESS_KEY", "test-secret-key")
        .set("AWS_SES_FROM_EMAIL", "no-reply@tenantry.test")
}

/// A tenant to queue mail in, created directly in the database.
pub async fn tenant(app: &TestApp, name: &str) -> TenantId {
    let id = Uuid::new_v4();
    let slug = format!("t-{}", &id.simple().to_string()[..12]);
    sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(slug)
        .bind(name)
        .execute(&mut app.db.superuser().await)
        .await
        .unwrap();
    TenantId::from_trusted(id)
}

/// Queues one message in its own committed tenant transaction.
pub async fn queue(app: &TestApp, tenant: TenantId, to: &str, template: EmailTemplate, ctx: Value) -> Uuid {
    let mut tx = app.state.db.tenant_tx(tenant).await.unwrap();
    let id = enqueue(&mut tx, tenant, to, template, ctx).await.unwrap();
    tx.commit().await.unwrap();
    id
}

#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    pub status: String,
    pub attempts: i32,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    pub suppressed_reason: Option<String>,
    pub context: Value,
    pub due_now: bool,
}

pub async fn row(conn: &mut PgConnection, id: Uuid) -> Row {
    sqlx::query_as(
        "SELECT status, attempts, provider, provider_message_id, last_error, suppressed_reason, context, \
         next_attempt_at <= now() AS due_now FROM email_outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await
    .unwrap()
}
