//! Creating user accounts: the one place that enforces the tenant's seat limit,
//! email uniqueness, name rules, role resolution and "nobody grants what they do
//! not hold" for new accounts, and writes the `user.created` audit row.
//!
//! Reused by every path that makes a user: `POST /auth/create-user`, the users
//! bulk-create, invitation acceptance and OAuth auto-provisioning. Callers own
//! the surrounding transaction (so a failure rolls back everything they did) and
//! the emails that follow; this module only writes the account and its roles.

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{self, AuditActor, AuditEvent},
    auth::password::check_policy,
    db::TenantTx,
    http::error::{ApiError, Validator},
    rbac::{Permission, grants},
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

/// A user account as the sign-up and account endpoints show it (no secrets).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_super_admin: bool,
    pub mfa_enabled: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Names of the user's unexpired roles, sorted.
    pub roles: Vec<String>,
}

const USER_VIEW_SQL: &str = "\
SELECT u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_super_admin, u.mfa_enabled,
       u.email_verified_at, u.last_login_at, u.created_at, u.updated_at,
       ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id
             WHERE ur.tenant_id = u.tenant_id AND ur.user_id = u.id
               AND (ur.expires_at IS NULL OR ur.expires_at > now())
             ORDER BY r.name) AS roles
FROM users u WHERE u.id = $1";

/// Loads one user of the transaction's tenant (404 when RLS hides it).
pub async fn load_account_view(tx: &mut TenantTx, user: Uuid) -> Result<AccountView, ApiError> {
    sqlx::query_as(USER_VIEW_SQL)
        .bind(user)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))
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

/// The syntactic checks the `users` table also enforces, as 422s naming the field.
pub fn validate_email(v: &mut Validator, field: &str, email: &str) {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && email.matches('@').count() == 1
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    v.check(ok, field, "must be a valid email address");
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
) -> Result<AccountView, ApiError> {
    let email = input.email.trim().to_lowercase();
    let first_name = input.first_name.trim().to_string();
    let last_name = input.last_name.trim().to_string();
    let mut v = Validator::new();
    validate_email(&mut v, "email", &email);
    validate_name(&mut v, "first_name", &first_name);
    validate_name(&mut v, "last_name", &last_name);
    v.finish()?;

    let roles = grants::resolve_roles(tx, "role_names", &input.role_names).await?;
    if let RoleGrant::ByCaller(held) = grant {
        grants::ensure_can_grant(held, grants::permissions_of(&roles))?;
    }

    let tenant = tx.tenant();
    let max_users: i32 = sqlx::query_scalar("SELECT max_users FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
        .bind(tenant.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?;
    let (active, exists): (i64, bool) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE is_active), coalesce(bool_or(lower(email) = $1), false) FROM users",
    )
    .bind(&email)
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
    sqlx::query(
        "INSERT INTO users (tenant_id, id, email, first_name, last_name, password_hash, email_verified_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END, $8)",
    )
    .bind(tenant.0)
    .bind(id)
    .bind(&email)
    .bind(&first_name)
    .bind(&last_name)
    .bind(input.password_hash.as_deref())
    .bind(input.email_verified)
    .bind(actor.user_id)
    .execute(&mut **tx)
    .await?;
    for role in &roles {
        sqlx::query("INSERT INTO user_roles (tenant_id, user_id, role_id, granted_by) VALUES ($1, $2, $3, $4)")
            .bind(tenant.0)
            .bind(id)
            .bind(role.id)
            .bind(actor.user_id)
            .execute(&mut **tx)
            .await?;
    }
    let view = load_account_view(tx, id).await?;
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new("user.created", "user", id).new_values(json!({
            "email": view.email, "first_name": view.first_name, "last_name": view.last_name,
            "roles": view.roles, "has_password": input.password_hash.is_some(),
            "email_verified": input.email_verified,
        })),
    )
    .await?;
    Ok(view)
}
