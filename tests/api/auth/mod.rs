//! Authentication: uniform login failures, lockout, bcrypt upgrade, refresh
//! rotation with reuse detection, revocation, forged tokens, rate limits.
//! Sign-in is in `auth/login.rs`, tokens in `auth/tokens.rs`, email and MFA flows
//! in `auth/flows/`, Redis-shared limits in `auth/redis.rs`.

mod flows;
mod login;
mod redis;
mod tokens;

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

pub(crate) async fn count_rows(app: &TestApp, sql: &str, user: Uuid) -> i64 {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(user)
        .fetch_one(&mut su)
        .await
        .unwrap()
}

pub(crate) async fn refresh(app: &TestApp, token: &str) -> Resp {
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
    )
    .await
}
