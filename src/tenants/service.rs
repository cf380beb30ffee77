//! Tenant lifecycle rules, shared by the HTTP handlers and the `seed` command.
//!
//! Creation is one platform transaction: the tenant row, its four system roles
//! with exactly their catalogue permissions, the first administrator (password
//! or set-password email) and the audit rows. A failure anywhere leaves nothing.

use serde_json::{Value, json};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    model::{AdminUserView, CreatedTenant, NewTenant, Slug, TenantLimits, TenantView, UpdateTenant},
    model::{check_name, check_settings},
    repo,
};
use crate::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        password::{Passwords, check_policy},
        tokens::revoke_open_links,
    },
    crypto::{random_token, token_hash},
    db::{PlatformTx, SYSTEM_TENANT_ID, TenantId},
    email::{self, EmailTemplate},
    http::{ApiError, error::Validator},
    rbac::{SYSTEM_ROLES, system_role_permissions},
    users::accounts::{self, Email, UserRow, validate_name},
};

/// How long the set-password link of a new tenant admin stays valid.
pub const SET_PASSWORD_HOURS: i64 = 72;

const SYSTEM: TenantId = TenantId::SYSTEM;

/// Creates a tenant with its system roles and first administrator inside `tx`.
/// The caller commits.
pub async fn create_tenant(
    tx: &mut PlatformTx,
    actor: &AuditActor,
    passwords: &Passwords,
    input: NewTenant,
) -> Result<CreatedTenant, ApiError> {
    // Validate everything before touching the database.
    let mut v = Validator::new();
    check_name(&mut v, &input.name);
    let slug = match Slug::parse(&input.slug) {
        Ok(s) => Some(s),
        Err(msg) => {
            v.push("slug", msg);
            None
        }
    };
    let admin_email = Email::parse_field(&mut v, "admin_email", &input.admin_email);
    validate_name(&mut v, "admin_first_name", input.admin_first_name.trim());
    validate_name(&mut v, "admin_last_name", input.admin_last_name.trim());
    let settings = input.settings.clone().unwrap_or_else(|| json!({}));
    check_settings(&mut v, &settings);
    let limits = input.limits.unwrap_or_default().apply(TenantLimits::default(), &mut v);
    if let Some(p) = &input.admin_password
        && let Err(ApiError::Validation(errors)) =
            check_policy("admin_password", p, admin_email.as_ref().map(Email::as_str))
    {
        for e in errors {
            v.push(&e.field, e.message);
        }
    }
    v.finish()?;
    let slug = slug.expect("validated");
    let admin_email = admin_email.expect("validated").into_string();

    let taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1)")
        .bind(slug.as_str())
        .fetch_one(&mut **tx)
        .await?;
    if taken {
        return Err(ApiError::conflict("A tenant with this slug already exists"));
    }

    let tenant_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, settings, max_users, max_projects, max_storage_bytes, created_by, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(tenant_id)
    .bind(slug.as_str())
    .bind(input.name.trim())
    .bind(&settings)
    .bind(limits.max_users)
    .bind(limits.max_projects)
    .bind(limits.max_storage_bytes)
    .bind(actor.user_id)
    .execute(&mut **tx)
    .await?;
    let tenant = tx.tenant(tenant_id).await?;

    let admin_role = create_system_roles(tx, tenant_id, actor.user_id).await?;

    let password_hash = match &input.admin_password {
        Some(p) => Some(passwords.hash(p).await),
        None => None,
    };
    let user_id = Uuid::new_v4();
    // A super admin who sets the password vouches for the address; otherwise the
    // set-password link proves it.
    let row = UserRow {
        tenant: tenant_id,
        id: user_id,
        email: &admin_email,
        first_name: input.admin_first_name.trim(),
        last_name: input.admin_last_name.trim(),
        password_hash: password_hash.as_deref(),
        email_verified: password_hash.is_some(),
        created_by: actor.user_id,
        updated_by: actor.user_id,
        ..UserRow::default()
    };
    accounts::insert_user(tx, &row).await?;
    accounts::add_role(tx, tenant_id, user_id, admin_role, actor.user_id).await?;

    let email_sent = password_hash.is_none();
    if email_sent {
        let token = random_token();
        sqlx::query(
            "INSERT INTO password_reset_tokens (tenant_id, id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(Uuid::new_v4())
        .bind(user_id)
        .bind(token_hash(&token))
        .bind(OffsetDateTime::now_utc() + Duration::hours(SET_PASSWORD_HOURS))
        .execute(&mut **tx)
        .await?;
        email::enqueue(
            tx,
            tenant,
            &admin_email,
            EmailTemplate::Welcome,
            json!({"first_name": input.admin_first_name.trim(), "token": token, "tenant_name": input.name.trim(),
                   "expires_hours": SET_PASSWORD_HOURS}),
        )
        .await?;
    }

    let view: TenantView = repo::find(tx, tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?
        .into();
    let admin_user = AdminUserView {
        id: user_id,
        tenant_id,
        email: admin_email.clone(),
        first_name: input.admin_first_name.trim().to_string(),
        last_name: input.admin_last_name.trim().to_string(),
        is_active: true,
        roles: vec!["tenant_admin".into()],
        has_password: !email_sent,
        set_password_email_sent: email_sent,
    };
    let created = json!({"tenant": &view, "admin_user": {"id": user_id, "email": &admin_email}});
    audit::record(
        tx,
        SYSTEM,
        actor,
        AuditEvent::new(AuditAction::TenantCreated, "tenant", tenant_id).new_values(&created),
    )
    .await?;
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::TenantCreated, "tenant", tenant_id).new_values(&view),
    )
    .await?;
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::UserCreated, "user", user_id).new_values(json!({
            "email": &admin_email, "first_name": &admin_user.first_name, "last_name": &admin_user.last_name,
            "roles": ["tenant_admin"], "set_password_email": email_sent,
        })),
    )
    .await?;
    Ok(CreatedTenant {
        tenant: view,
        admin_user,
    })
}

/// Inserts the four system roles with exactly their permissions; answers the
/// id of `tenant_admin`.
async fn create_system_roles(tx: &mut PlatformTx, tenant: Uuid, by: Option<Uuid>) -> Result<Uuid, sqlx::Error> {
    let mut admin = Uuid::nil();
    for (name, description) in SYSTEM_ROLES {
        let role_id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO roles (tenant_id, id, name, description, is_system, created_by, updated_by) \
             VALUES ($1, $2, $3, $4, true, $5, $5)",
        )
        .bind(tenant)
        .bind(role_id)
        .bind(name)
        .bind(description)
        .bind(by)
        .execute(&mut **tx)
        .await?;
        let perms: Vec<&str> = system_role_permissions(name).iter().map(|p| p.as_str()).collect();
        sqlx::query("INSERT INTO role_permissions (tenant_id, role_id, permission) SELECT $1, $2, unnest($3::text[])")
            .bind(tenant)
            .bind(role_id)
            .bind(&perms)
            .execute(&mut **tx)
            .await?;
        if *name == "tenant_admin" {
            admin = role_id;
        }
    }
    Ok(admin)
}

/// Applies a `PUT /tenants/{id}`; answers the updated tenant.
pub async fn update_tenant(
    tx: &mut PlatformTx,
    actor: &AuditActor,
    id: Uuid,
    input: UpdateTenant,
) -> Result<TenantView, ApiError> {
    let current = repo::find_for_update(tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?;
    let mut v = Validator::new();
    if let Some(name) = &input.name {
        check_name(&mut v, name);
    }
    if let Some(settings) = &input.settings {
        check_settings(&mut v, settings);
    }
    let base = TenantLimits {
        max_users: current.max_users,
        max_projects: current.max_projects,
        max_storage_bytes: current.max_storage_bytes,
    };
    let limits = input.limits.unwrap_or_default().apply(base, &mut v);
    let slug = match input.slug.as_deref().map(str::trim).filter(|s| *s != current.slug) {
        None => None,
        Some(s) => match Slug::parse(s) {
            Ok(s) => Some(s),
            Err(msg) => {
                v.push("slug", msg);
                None
            }
        },
    };
    v.finish()?;
    if current.is_system && (slug.is_some() || input.is_active == Some(false)) {
        return Err(ApiError::conflict(
            "The system tenant's slug and status cannot be changed",
        ));
    }
    if slug.is_some() && current.user_count > 0 {
        return Err(ApiError::conflict(
            "The slug cannot change once the tenant has users (sign-in and OAuth redirect URLs embed it)",
        ));
    }
    sqlx::query(
        "UPDATE tenants SET name = COALESCE($2, name), slug = COALESCE($3, slug), settings = COALESCE($4, settings), \
         max_users = $5, max_projects = $6, max_storage_bytes = $7, is_active = COALESCE($8, is_active), updated_by = $9 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(input.name.as_deref().map(str::trim))
    .bind(slug.as_ref().map(Slug::as_str))
    .bind(&input.settings)
    .bind(limits.max_users)
    .bind(limits.max_projects)
    .bind(limits.max_storage_bytes)
    .bind(input.is_active)
    .bind(actor.user_id)
    .execute(&mut **tx)
    .await?;
    if input.is_active == Some(false) && current.is_active {
        repo::revoke_all_sessions(tx, id, "tenant_deactivated").await?;
    }
    let old = TenantView::from(current);
    let new = TenantView::from(repo::find(tx, id).await?.ok_or_else(|| ApiError::not_found("Tenant"))?);
    let event = || {
        AuditEvent::new(AuditAction::TenantUpdated, "tenant", id)
            .old(&old)
            .new_values(&new)
    };
    audit::record(tx, SYSTEM, actor, event()).await?;
    if id != SYSTEM_TENANT_ID {
        let tenant = tx.tenant(id).await?;
        audit::record(tx, tenant, actor, event()).await?;
    }
    Ok(new)
}

/// Activates or deactivates a tenant. Deactivation revokes every session of the
/// tenant at once; the authentication look-up already refuses inactive tenants.
pub async fn set_active(
    tx: &mut PlatformTx,
    actor: &AuditActor,
    id: Uuid,
    active: bool,
) -> Result<TenantView, ApiError> {
    let current = repo::find_for_update(tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?;
    if current.is_system && !active {
        return Err(ApiError::conflict("The system tenant cannot be deactivated"));
    }
    sqlx::query("UPDATE tenants SET is_active = $2, updated_by = $3 WHERE id = $1")
        .bind(id)
        .bind(active)
        .bind(actor.user_id)
        .execute(&mut **tx)
        .await?;
    let tenant = tx.tenant(id).await?;
    let revoked = if active {
        0
    } else {
        // Links mailed before must not work again once the tenant is reactivated.
        revoke_open_links(tx, tenant, None).await?;
        repo::revoke_all_sessions(tx, id, "tenant_deactivated").await?
    };
    let action = if active {
        AuditAction::TenantActivated
    } else {
        AuditAction::TenantDeactivated
    };
    let old = json!({"is_active": current.is_active});
    let new = json!({"is_active": active, "sessions_revoked": revoked});
    audit::record(
        tx,
        SYSTEM,
        actor,
        AuditEvent::new(action, "tenant", id).old(&old).new_values(&new),
    )
    .await?;
    if id != SYSTEM_TENANT_ID {
        audit::record(
            tx,
            tenant,
            actor,
            AuditEvent::new(action, "tenant", id).old(&old).new_values(&new),
        )
        .await?;
    }
    Ok(repo::find(tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?
        .into())
}

/// Deletes a tenant and, by cascade, every row it owns (its own audit chain
/// included); the deletion is recorded in the system tenant's chain. Answers the
/// deleted tenant's last view.
pub async fn delete_tenant(tx: &mut PlatformTx, actor: &AuditActor, id: Uuid) -> Result<Value, ApiError> {
    let current = repo::find_for_update(tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?;
    if current.is_system {
        return Err(ApiError::conflict("The system tenant cannot be deleted"));
    }
    let counts = repo::tenant_stats(tx, id).await?;
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let old = json!({"tenant": TenantView::from(current), "stats": counts});
    audit::record(
        tx,
        SYSTEM,
        actor,
        AuditEvent::new(AuditAction::TenantDeleted, "tenant", id).old(&old),
    )
    .await?;
    Ok(old)
}
