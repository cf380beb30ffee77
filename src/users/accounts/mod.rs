//! User accounts: the one writer of the `users` and `user_roles` tables. Every
//! `INSERT`, `UPDATE` or `DELETE` of them, in any feature, is a function here
//! (`src/layout_tests/` fails when such SQL appears elsewhere), so the rules
//! of an account — the seat limit, email and name syntax, who may grant which
//! role, what a password change or a lock resets — are read in one place.
//!
//! - [`create_user`]: the one place that enforces the tenant's seat limit,
//!   email uniqueness, name rules, role resolution and "nobody grants what they
//!   do not hold" for new accounts, and writes the `user.created` audit row.
//!   Reused by every path that makes a user: `POST /auth/create-user`, the
//!   users bulk-create, invitation acceptance, SCIM and OAuth
//!   auto-provisioning. Callers own the surrounding transaction (so a failure
//!   rolls back everything they did) and the emails that follow.
//! - [`insert_user`] and [`roles::add_role`]: the bare rows, for the paths
//!   that create an account outside a tenant's own rules (a new tenant's first
//!   admin, the configured super admin, sample data).
//! - [`writes`]: every later change of a `users` row (names, activity, locks,
//!   passwords, MFA, SCIM fields, sign-in bookkeeping); [`roles`]: role
//!   assignments.
//! - [`Email`]: the one email-address rule.

mod email;
pub mod roles;
pub mod writes;

pub use email::{Email, INVALID_EMAIL};
pub use roles::{add_role, delete_assignment, delete_expired_assignments, upsert_assignment};
pub use writes::*;

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{password::check_policy, session::revoke_user_sessions, tokens::revoke_open_links},
    db::TenantTx,
    http::error::{ApiError, Validator},
    rbac::{Permission, grants},
    users::{model::UserView, repo},
};

pub use crate::rbac::grants::DEFAULT_ROLE;

/// Who decided a new account's roles, and so whether
/// [`grants::ensure_can_grant`] runs now.
#[derive(Debug, Clone, Copy)]
pub enum RoleGrant<'a> {
    /// A signed-in caller holding these permissions (create-user, bulk create):
    /// every permission of the roles must be among them (403 otherwise).
    ByCaller(&'a [Permission]),
    /// Decided and checked before: an invitation (checked when it was made) or
    /// an identity provider's default role (configured by a super admin).
    Decided,
}

/// A user to create in the transaction's tenant.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Already hashed (see [`hash_new_password`]); `None` leaves the account
    /// without a password until the user sets one (set-password link, OAuth).
    pub password_hash: Option<String>,
    /// Role names of the tenant; empty means [`DEFAULT_ROLE`]. Unknown names → 422.
    /// Checked against the grantor by [`create_user`].
    pub role_names: Vec<String>,
    /// Mark the email verified now (invitation accepted, IdP-verified email).
    pub email_verified: bool,
}

/// Applies the password policy (422 naming `field` and the rule) and hashes
/// off the runtime.
pub async fn hash_new_password(
    state: &AppState,
    field: &str,
    password: &str,
    email: Option<&str>,
) -> Result<String, ApiError> {
    check_policy(field, password, email)?;
    Ok(state.passwords.hash(password).await)
}

/// The one name rule (first and last names, everywhere a person's name is
/// written): at most 100 characters and no control characters (CR/LF would
/// forge lines in emails and logs). Checks the already trimmed `value`.
pub fn validate_name(v: &mut Validator, field: &str, value: &str) {
    v.check(value.chars().count() <= 100, field, "must be at most 100 characters");
    v.check(
        !value.chars().any(char::is_control),
        field,
        "must not contain control characters",
    );
}

/// Creates a user (with roles) in the transaction's tenant and writes the
/// `user.created` audit row; the caller commits.
///
/// - Names follow [`validate_name`] (422).
/// - The roles (default [`DEFAULT_ROLE`]) must be grantable by `grant` (403).
/// - The tenant row is locked (`FOR NO KEY UPDATE`) before counting active users,
///   so concurrent creations cannot exceed `max_users` (409 when full).
/// - The email is trimmed and lower-cased; a duplicate in the tenant → 409.
/// - Unknown role names → 422 on `role_names`.
pub async fn create_user(
    tx: &mut TenantTx,
    actor: &AuditActor,
    grant: RoleGrant<'_>,
    input: NewUser,
) -> Result<UserView, ApiError> {
    let first_name = input.first_name.trim().to_string();
    let last_name = input.last_name.trim().to_string();
    let mut v = Validator::new();
    let email = Email::parse_field(&mut v, "email", &input.email);
    validate_name(&mut v, "first_name", &first_name);
    validate_name(&mut v, "last_name", &last_name);
    v.finish()?;
    let email = email.expect("no validation error, so a valid email");

    let roles = grants::resolve_roles(tx, "role_names", &input.role_names).await?;
    if let RoleGrant::ByCaller(held) = grant {
        grants::ensure_can_grant(held, grants::permissions_of(&roles))?;
    }

    let tenant = tx.tenant();
    let max_users: i32 = sqlx::query_scalar("SELECT max_users FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
        .bind(tenant.get())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?;
    let (active, exists): (i64, bool) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE is_active), coalesce(bool_or(lower(email) = $1), false) FROM users",
    )
    .bind(email.as_str())
    .fetch_one(&mut **tx)
    .await?;
    if exists {
        return Err(ApiError::conflict(
            "A user with this email already exists in this tenant",
        ));
    }
    if active >= i64::from(max_users) {
        return Err(ApiError::conflict(format!(
            "The tenant's user limit ({max_users}) is reached"
        )));
    }

    let id = Uuid::new_v4();
    let row = UserRow {
        tenant: tenant.get(),
        id,
        email: email.as_str(),
        first_name: &first_name,
        last_name: &last_name,
        password_hash: input.password_hash.as_deref(),
        email_verified: input.email_verified,
        created_by: actor.user_id,
        ..UserRow::default()
    };
    insert_user(tx, &row).await?;
    for role in &roles {
        add_role(tx, tenant.get(), id, role.id, actor.user_id).await?;
    }
    let view = repo::get_user(tx, id).await?;
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::UserCreated, "user", id).new_values(json!({
            "email": view.email, "first_name": view.first_name, "last_name": view.last_name,
            "roles": view.roles, "has_password": input.password_hash.is_some(),
            "email_verified": input.email_verified,
        })),
    )
    .await?;
    Ok(view)
}

/// A `users` row as [`insert_user`] writes it; the other columns take their
/// defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRow<'a> {
    pub tenant: Uuid,
    pub id: Uuid,
    /// Already normalised ([`Email::parse`]).
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_super_admin: bool,
    /// `email_verified_at` = now.
    pub email_verified: bool,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
}

/// Inserts one `users` row, none of the rules of [`create_user`] applied.
/// Takes a bare connection because tenant transactions ([`create_user`]) and
/// platform ones (a new tenant's admin, the super admin, sample data) share it.
pub async fn insert_user(conn: &mut PgConnection, row: &UserRow<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (tenant_id, id, email, first_name, last_name, password_hash, is_super_admin, \
         email_verified_at, created_by, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8 THEN now() END, $9, $10)",
    )
    .bind(row.tenant)
    .bind(row.id)
    .bind(row.email)
    .bind(row.first_name)
    .bind(row.last_name)
    .bind(row.password_hash)
    .bind(row.is_super_admin)
    .bind(row.email_verified)
    .bind(row.created_by)
    .bind(row.updated_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets `is_active`; deactivation also revokes every session, so the user's
/// access tokens stop working at once, and ends every open reset, set-password,
/// invitation and unlock link of the account. Every deactivation path (`DELETE`,
/// `PUT is_active:false`, bulk deactivate) comes through here. Returns the
/// number of sessions revoked.
pub async fn set_active(tx: &mut TenantTx, user: Uuid, active: bool, by: Option<Uuid>) -> Result<u64, ApiError> {
    write_active(tx, user, active, by).await?;
    if active {
        return Ok(0);
    }
    let tenant = tx.tenant();
    revoke_open_links(tx, tenant, Some(user)).await?;
    Ok(revoke_user_sessions(tx, user, None, "user deactivated").await?)
}
