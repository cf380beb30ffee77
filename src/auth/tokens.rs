//! Single-use emailed tokens (256 random bits, stored as SHA-256 only):
//! password reset / set-password (`password_reset_tokens`) and email
//! verification (`email_verification_tokens`). Invitation tokens are issued by
//! the users feature and consumed in [`super::handlers::tokens`].

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    crypto::{random_token, token_hash},
    db::TenantTx,
};

/// A password reset link is valid for one hour.
pub const PASSWORD_RESET_TTL: Duration = Duration::hours(1);
/// The set-password link of a welcome email (same table, longer life: the
/// recipient may not read mail the same hour).
pub const WELCOME_SET_PASSWORD_TTL: Duration = Duration::days(7);
/// An email verification link is valid for 24 hours.
pub const EMAIL_VERIFICATION_TTL: Duration = Duration::hours(24);

/// Which table a token lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    PasswordReset,
    EmailVerification,
}

impl TokenKind {
    fn table(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset_tokens",
            Self::EmailVerification => "email_verification_tokens",
        }
    }

    /// The kind name `auth_token_tenant` understands.
    pub fn lookup_kind(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }
}

/// Issues a token for `user`, valid for `ttl`; returns the raw token (for the email).
pub async fn issue(tx: &mut TenantTx, kind: TokenKind, user: Uuid, ttl: Duration) -> Result<String, sqlx::Error> {
    let token = random_token();
    let sql = format!(
        "INSERT INTO {} (tenant_id, id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
        kind.table()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.tenant().0)
        .bind(Uuid::new_v4())
        .bind(user)
        .bind(token_hash(&token))
        .bind(OffsetDateTime::now_utc() + ttl)
        .execute(&mut **tx)
        .await?;
    Ok(token)
}

/// The user a live (unused, unexpired) token belongs to, without consuming it.
pub async fn peek(tx: &mut TenantTx, kind: TokenKind, token: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = format!(
        "SELECT user_id FROM {} WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
        kind.table()
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(token_hash(token))
        .fetch_optional(&mut **tx)
        .await
}

/// Marks a live token used and returns its user; `None` when it is unknown,
/// expired or already used. Atomic: of two concurrent consumers only one wins.
pub async fn consume(tx: &mut TenantTx, kind: TokenKind, token: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id",
        kind.table()
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(token_hash(token))
        .fetch_optional(&mut **tx)
        .await
}
