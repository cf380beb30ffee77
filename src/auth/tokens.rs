//! Single-use emailed tokens (256 random bits, stored as SHA-256 only):
//! password reset / set-password (`password_reset_tokens`), email
//! verification (`email_verification_tokens`) and the lockout alert's unlock
//! link (`account_unlock_tokens`). Invitation tokens are issued by the users
//! feature and consumed in `handlers/accounts.rs`.
//!
//! [`revoke_open_links`] ends every open link of an account (or a tenant) when
//! its password changes or it is deactivated: a link mailed before must not
//! outlive the credential or the account it was meant for.

use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    crypto::{random_token, token_hash},
    db::{TenantId, TenantTx},
};

/// A password reset link is valid for one hour.
pub const PASSWORD_RESET_TTL: Duration = Duration::hours(1);
/// The set-password link of a welcome email (same table, longer life: the
/// recipient may not read mail the same hour).
pub const WELCOME_SET_PASSWORD_TTL: Duration = Duration::days(7);
/// An email verification link is valid for 24 hours.
pub const EMAIL_VERIFICATION_TTL: Duration = Duration::hours(24);
/// The longest an unlock link lives (it also dies when the lock ends).
pub const UNLOCK_MAX_TTL: Duration = Duration::hours(1);

/// Which table a token lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    PasswordReset,
    EmailVerification,
    Unlock,
}

impl TokenKind {
    fn table(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset_tokens",
            Self::EmailVerification => "email_verification_tokens",
            Self::Unlock => "account_unlock_tokens",
        }
    }

    /// The kind name `auth_token_tenant` understands.
    pub fn lookup_kind(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::Unlock => "unlock",
        }
    }
}

/// Issues a token for `user`, valid for `ttl`; returns the raw token (for the email).
pub async fn issue(tx: &mut TenantTx, kind: TokenKind, user: Uuid, ttl: Duration) -> Result<String, sqlx::Error> {
    issue_until(tx, kind, user, OffsetDateTime::now_utc() + ttl).await
}

/// Issues a token for `user`, valid until `expires_at` (e.g. an unlock link
/// that must die with the lock); returns the raw token.
pub async fn issue_until(
    tx: &mut TenantTx,
    kind: TokenKind,
    user: Uuid,
    expires_at: OffsetDateTime,
) -> Result<String, sqlx::Error> {
    let token = random_token();
    let sql = format!(
        "INSERT INTO {} (tenant_id, id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
        kind.table()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.tenant().get())
        .bind(Uuid::new_v4())
        .bind(user)
        .bind(token_hash(&token))
        .bind(expires_at)
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

/// Ends every open link that could set a password, sign in or unlock: reset
/// and set-password tokens, unlock tokens, and open invitations to the
/// account's email. `user: None` means every account of `tenant` (tenant
/// deactivation). Email-verification links stay: they only confirm an address.
///
/// Called from every path that changes a password (change, reset) or
/// deactivates (a user by any route, a tenant). Takes a `PgConnection` because
/// both paths share it: tenant transactions (RLS) and the platform transaction
/// of tenant deactivation (every statement names the tenant). Returns how many
/// links ended. The caller commits.
pub async fn revoke_open_links(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    let mut ended = 0;
    for table in ["password_reset_tokens", "account_unlock_tokens"] {
        let sql = format!(
            "UPDATE {table} SET used_at = now() \
             WHERE tenant_id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND used_at IS NULL AND expires_at > now()"
        );
        ended += sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.get())
            .bind(user)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    ended += sqlx::query(
        "UPDATE invitations SET expires_at = now() \
         WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at > now() \
           AND ($2::uuid IS NULL OR lower(email) = (SELECT lower(u.email) FROM users u \
                                                    WHERE u.tenant_id = $1 AND u.id = $2))",
    )
    .bind(tenant.get())
    .bind(user)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(ended)
}
