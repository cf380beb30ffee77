//! The last-tenant-admin invariant: a tenant always keeps at least one active
//! user holding `tenant_admin` without an expiry.
//!
//! Every path that can take an administrator away — role removal, deactivation
//! by `DELETE /users/{id}`, `PUT /users/{id}` with `is_active: false`, bulk
//! deactivation, giving the `tenant_admin` assignment an expiry — takes an
//! [`AdminGuard`] first and calls [`AdminGuard::ensure_admin_remains`] after its
//! change, in the same transaction (409 on failure, and the caller's error
//! rolls the change back).
//!
//! Decisions:
//! - Race safety: [`AdminGuard::lock`] locks the tenant's `tenant_admin` role row
//!   (`FOR NO KEY UPDATE`, which does not block the key-share locks that
//!   foreign-key checks take when an assignment is inserted). Two transactions
//!   that each remove a different admin therefore run one after the other, and
//!   the second counts after the first committed (READ COMMITTED takes a fresh
//!   snapshot per statement). Lock order: this lock before any user row lock.
//! - An expiring assignment does not count: it would leave the tenant without an
//!   administrator on its own.
//! - The guard refuses only changes that take the count from one or more to
//!   zero, so a tenant already without an admin (only reachable by direct
//!   database edits) can still be managed.

use crate::db::TenantTx;

use crate::http::ApiError;

/// Proof that the tenant's admin set is locked for this transaction, with the
/// number of lasting administrators when the lock was taken.
#[must_use = "call ensure_admin_remains after the change"]
pub struct AdminGuard {
    before: i64,
}

/// Active users holding a non-expiring `tenant_admin` assignment.
async fn lasting_admins(tx: &mut TenantTx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(DISTINCT ur.user_id) FROM user_roles ur \
         JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
         JOIN users u ON u.tenant_id = ur.tenant_id AND u.id = ur.user_id \
         WHERE r.name = 'tenant_admin' AND r.is_system AND u.is_active AND ur.expires_at IS NULL",
    )
    .fetch_one(&mut **tx)
    .await
}

impl AdminGuard {
    /// Locks the tenant's administrator set until the transaction ends. Take it
    /// before locking any user row (one lock order, no deadlocks).
    pub async fn lock(tx: &mut TenantTx) -> Result<Self, ApiError> {
        sqlx::query("SELECT 1 FROM roles WHERE name = 'tenant_admin' AND is_system FOR NO KEY UPDATE")
            .fetch_optional(&mut **tx)
            .await?;
        Ok(AdminGuard {
            before: lasting_admins(tx).await?,
        })
    }

    /// The one last-admin check: 409 when the transaction's changes so far left
    /// the tenant with no active, non-expiring `tenant_admin` while it had one.
    pub async fn ensure_admin_remains(&self, tx: &mut TenantTx) -> Result<(), ApiError> {
        if self.before > 0 && lasting_admins(tx).await? == 0 {
            return Err(ApiError::conflict(
                "The tenant must keep at least one active tenant admin",
            ));
        }
        Ok(())
    }
}
