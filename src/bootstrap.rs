//! Start-up: resolve the database (embedded default), migrate, ensure the
//! super admin exists.

use std::path::Path;

use anyhow::Context;
use uuid::Uuid;

use crate::{
    auth::password::{Passwords, check_policy},
    config::Config,
    db::{Db, SYSTEM_TENANT_ID, embedded},
    users::accounts,
};

/// DATABASE_URL, or the embedded cluster's URL (started if needed).
pub async fn database_url(config: &Config) -> anyhow::Result<String> {
    match &config.database_url {
        Some(url) => Ok(url.expose().to_string()),
        None => {
            eprintln!(
                "tenantry: no DATABASE_URL: using the embedded development PostgreSQL in {}/pg \
                 (not for production; it keeps running after tenantry exits: `tenantry db status`, `tenantry db stop`)",
                config.data_dir
            );
            let server = embedded::ensure_cluster(Path::new(&config.data_dir)).await?;
            embedded::ensure_database(&server, "tenantry").await
        }
    }
}

/// Ensures the super admin of SUPER_ADMIN_EMAIL / SUPER_ADMIN_PASSWORD. Outside
/// production, without them, `admin@tenantry.local` gets a random password that
/// is printed once, when the account is created.
pub async fn ensure_configured_super_admin(config: &Config, db: &Db) -> anyhow::Result<()> {
    let email = match &config.super_admin_email {
        Some(e) => e.clone(),
        None if !config.is_production() => "admin@tenantry.local".to_string(),
        None => {
            tracing::warn!("SUPER_ADMIN_EMAIL is not set: no super admin ensured");
            return Ok(());
        }
    };
    let (password, generated) = match &config.super_admin_password {
        Some(p) => (p.expose().to_string(), false),
        None if config.is_production() => {
            tracing::warn!("SUPER_ADMIN_PASSWORD is not set: no super admin ensured");
            return Ok(());
        }
        None => (crate::crypto::random_token(), true),
    };
    if ensure_super_admin(db, &email, &password).await? {
        if generated {
            eprintln!(
                "tenantry: created super admin {email} with password {password} (shown once; set SUPER_ADMIN_PASSWORD to choose it)"
            );
        } else {
            eprintln!("tenantry: created super admin {email}");
        }
    }
    Ok(())
}

/// Creates the super admin in the system tenant if no user has that email there.
/// Never overwrites an existing account's password. Returns whether it created one.
pub async fn ensure_super_admin(db: &Db, email: &str, password: &str) -> anyhow::Result<bool> {
    check_policy("SUPER_ADMIN_PASSWORD", password, Some(email)).map_err(|_| {
        anyhow::anyhow!(
            "SUPER_ADMIN_PASSWORD does not meet the password policy (12+ characters, not common, not the email)"
        )
    })?;
    let mut tx = db.cli_command("create-super-admin").tx().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND lower(email) = lower($2))")
            .bind(SYSTEM_TENANT_ID)
            .bind(email)
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        return Ok(false);
    }
    let hash = Passwords::default().hash(password).await;
    let id = Uuid::new_v4();
    let email_lower = email.to_lowercase();
    let row = accounts::UserRow {
        tenant: SYSTEM_TENANT_ID,
        id,
        email: &email_lower,
        first_name: "Super",
        last_name: "Admin",
        password_hash: Some(&hash),
        is_super_admin: true,
        email_verified: true,
        ..Default::default()
    };
    accounts::insert_user(&mut tx, &row)
        .await
        .context("creating the super admin")?;
    crate::audit::record(
        &mut tx,
        crate::db::TenantId::SYSTEM,
        &Default::default(),
        crate::audit::AuditEvent::new(crate::audit::AuditAction::UserCreated, "user", id)
            .new_values(serde_json::json!({"email": email, "is_super_admin": true})),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
