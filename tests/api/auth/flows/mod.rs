//! Email-token flows (create-user, password reset, email verification,
//! invitations) and TOTP. This file reads the mails the flows send.

mod create_user;
mod invitations;
mod password_reset;
mod totp;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// The newest queued email of `template` to `to`: its context.
async fn last_email(app: &TestApp, to: &str, template: &str) -> Option<Value> {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar(
        "SELECT context FROM email_outbox WHERE lower(to_email) = lower($1) AND template = $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(to)
    .bind(template)
    .fetch_optional(&mut su)
    .await
    .unwrap()
}

async fn post_anon(app: &TestApp, path: &str, body: Value) -> Resp {
    app.call(Method::POST, path, None, Some(body)).await
}
