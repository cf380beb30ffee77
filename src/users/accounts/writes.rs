//! Every change of an existing `users` row, one function per change. The
//! callers decide when (and audit it); these say what the change touches, so
//! that, say, every unlock resets the same columns.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{PlatformTx, TenantTx};

/// Names (each kept when `None`), by `by`; bumps the version.
pub async fn update_names(
    tx: &mut TenantTx,
    user: Uuid,
    first_name: Option<&str>,
    last_name: Option<&str>,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name), \
         updated_by = $4, version = version + 1 WHERE id = $1",
    )
    .bind(user)
    .bind(first_name)
    .bind(last_name)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `is_active` only; [`super::set_active`] is the deactivation path.
pub(super) async fn write_active(
    tx: &mut TenantTx,
    user: Uuid,
    active: bool,
    by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET is_active = $2, updated_by = $3, version = version + 1 WHERE id = $1")
        .bind(user)
        .bind(active)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends a lock and restarts the failure count (unlock link, expired lock,
/// administrator).
pub async fn clear_lock(tx: &mut TenantTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET locked_until = NULL, failed_login_count = 0 WHERE id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// [`clear_lock`] by a super admin, in any tenant; records who.
pub async fn clear_lock_as_platform(
    tx: &mut PlatformTx,
    tenant: Uuid,
    user: Uuid,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET failed_login_count = 0, locked_until = NULL, updated_by = $3 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(user)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A failed factor: the new failure count and, when this failure locks the
/// account, until when (an existing lock is kept).
pub async fn count_failure(
    tx: &mut TenantTx,
    user: Uuid,
    count: i32,
    lock_until: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET failed_login_count = $2, locked_until = coalesce($3, locked_until) WHERE id = $1")
        .bind(user)
        .bind(count)
        .bind(lock_until)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A completed sign-in: the failure count restarts, any lock ends,
/// `last_login_at` is now.
pub async fn record_sign_in(tx: &mut TenantTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = now() WHERE id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A sign-in through an identity provider: only `last_login_at` (the local
/// failure count belongs to the password).
pub async fn touch_last_login(tx: &mut TenantTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A password the user chose (already hashed); bumps the version.
pub async fn set_password(tx: &mut TenantTx, user: Uuid, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, version = version + 1 WHERE id = $1")
        .bind(user)
        .bind(hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A password set from an emailed link: the link proves the address, and the
/// lock and failure count end with the old password. Answers the first name.
pub async fn reset_password(tx: &mut TenantTx, user: Uuid, hash: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET password_hash = $2, failed_login_count = 0, locked_until = NULL, \
         email_verified_at = coalesce(email_verified_at, now()), version = version + 1 \
         WHERE id = $1 RETURNING first_name",
    )
    .bind(user)
    .bind(hash)
    .fetch_one(&mut **tx)
    .await
}

/// Replaces the hash with a stronger one of the same password, only if it is
/// still `old` (a concurrent password change wins).
pub async fn rehash_password(tx: &mut TenantTx, user: Uuid, new: &str, old: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3")
        .bind(user)
        .bind(new)
        .bind(old)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `email_verified_at` = now, unless already set.
pub async fn mark_email_verified(tx: &mut TenantTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// TOTP setup: the sealed secret waits for its first code; the recovery code
/// hashes replace the old ones.
pub async fn stage_totp(tx: &mut TenantTx, user: Uuid, sealed: &[u8], recovery: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET totp_pending_enc = $2, recovery_codes = $3 WHERE id = $1")
        .bind(user)
        .bind(sealed)
        .bind(recovery)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The staged secret becomes the TOTP secret; `step` is spent.
pub async fn enable_totp(tx: &mut TenantTx, user: Uuid, step: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET mfa_enabled = true, totp_secret_enc = totp_pending_enc, totp_pending_enc = NULL, \
         totp_last_step = $2 WHERE id = $1",
    )
    .bind(user)
    .bind(step)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// MFA off: secrets and recovery codes gone.
pub async fn disable_totp(tx: &mut TenantTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET mfa_enabled = false, totp_secret_enc = NULL, totp_pending_enc = NULL, \
         totp_last_step = NULL, recovery_codes = '{}' WHERE id = $1",
    )
    .bind(user)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A TOTP code was used: its step cannot be used again.
pub async fn spend_totp_step(tx: &mut TenantTx, user: Uuid, step: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET totp_last_step = $2 WHERE id = $1")
        .bind(user)
        .bind(step)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A recovery code was used: `left` are the hashes still valid.
pub async fn set_recovery_codes(tx: &mut TenantTx, user: Uuid, left: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET recovery_codes = $2 WHERE id = $1")
        .bind(user)
        .bind(left)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The fields a SCIM `PUT`/`PATCH` replaces; `undelete` brings back a user
/// SCIM had deleted. Bumps the version; `updated_by` is the directory (NULL).
#[derive(Debug, Clone, Copy)]
pub struct ScimFields<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub external_id: Option<&'a str>,
    pub undelete: bool,
}

/// Writes [`ScimFields`].
pub async fn scim_replace(tx: &mut TenantTx, user: Uuid, f: ScimFields<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email = $2, first_name = $3, last_name = $4, scim_external_id = $5, \
         scim_deleted_at = CASE WHEN $6 THEN NULL ELSE scim_deleted_at END, updated_by = NULL, version = version + 1 \
         WHERE id = $1",
    )
    .bind(user)
    .bind(f.email)
    .bind(f.first_name)
    .bind(f.last_name)
    .bind(f.external_id)
    .bind(f.undelete)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The directory's id for a user SCIM just created.
pub async fn set_scim_external_id(tx: &mut TenantTx, user: Uuid, external_id: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET scim_external_id = $2 WHERE id = $1")
        .bind(user)
        .bind(external_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// SCIM `DELETE`: hidden from SCIM (the row and its audit trail stay).
pub async fn scim_hide(tx: &mut TenantTx, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET scim_deleted_at = now(), version = version + 1 WHERE id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
