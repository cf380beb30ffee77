//! `tenantry seed`: sample data for trying the API — tenants `acme` and
//! `globex`, a user in each system role (credentials printed once), a few
//! projects and document records. Skips everything when `acme` already exists.

use serde_json::json;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    crypto::random_token,
    db::PlatformTx,
    rbac::SYSTEM_ROLES,
    tenants::{NewTenant, create_tenant},
    users::accounts,
};

const TENANTS: &[(&str, &str)] = &[("acme", "Acme Corporation"), ("globex", "Globex Inc.")];
const PROJECTS: &[(&str, &str, &[&str])] = &[
    (
        "Website relaunch",
        "New public website and brand refresh",
        &["Sitemap", "Design brief"],
    ),
    (
        "Quarterly report",
        "Q4 financial reporting",
        &["Draft report", "Budget sheet"],
    ),
    (
        "Onboarding handbook",
        "Everything a new hire needs",
        &["Welcome letter"],
    ),
];

/// One sign-in the seed created.
pub struct SeededLogin {
    pub tenant: String,
    pub role: String,
    pub email: String,
    pub password: String,
}

/// Creates the sample data unless `acme` exists; prints the credentials.
pub async fn run(state: &AppState) -> anyhow::Result<()> {
    match seed(state).await? {
        None => println!("seed: tenant `acme` already exists; nothing to do"),
        Some(logins) => {
            println!(
                "seed: created tenants {}",
                TENANTS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
            );
            println!("{:<8} {:<16} {:<32} password", "tenant", "role", "email");
            for l in logins {
                println!("{:<8} {:<16} {:<32} {}", l.tenant, l.role, l.email, l.password);
            }
        }
    }
    Ok(())
}

/// The seeding itself, in one platform transaction; `None` when already seeded.
pub async fn seed(state: &AppState) -> anyhow::Result<Option<Vec<SeededLogin>>> {
    let mut tx = state.db.cli_command("seed").tx().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = 'acme')")
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        return Ok(None);
    }
    let actor = AuditActor::default();
    let mut logins = Vec::new();
    for (slug, name) in TENANTS {
        let admin_email = format!("admin@{slug}.example.com");
        let admin_password = password();
        let created = create_tenant(
            &mut tx,
            &actor,
            &state.passwords,
            NewTenant {
                name: (*name).into(),
                slug: (*slug).into(),
                admin_email: admin_email.clone(),
                admin_first_name: "Ada".into(),
                admin_last_name: "Admin".into(),
                admin_password: Some(admin_password.clone()),
                settings: Some(json!({"seeded": true})),
                limits: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating tenant {slug}: {e}"))?;
        let tenant = created.tenant.id;
        logins.push(SeededLogin {
            tenant: (*slug).into(),
            role: "tenant_admin".into(),
            email: admin_email,
            password: admin_password,
        });
        for (role, _) in SYSTEM_ROLES.iter().filter(|(r, _)| *r != "tenant_admin") {
            let email = format!("{}@{slug}.example.com", role.replace('_', "."));
            let pw = password();
            add_user(state, &mut tx, tenant, role, &email, &pw).await?;
            logins.push(SeededLogin {
                tenant: (*slug).into(),
                role: (*role).into(),
                email,
                password: pw,
            });
        }
        add_projects(&mut tx, tenant, created.admin_user.id).await?;
    }
    tx.commit().await?;
    Ok(Some(logins))
}

/// A fresh random password that meets the policy.
fn password() -> String {
    format!("Seed-{}", &random_token()[..16])
}

async fn add_user(
    state: &AppState,
    tx: &mut PlatformTx,
    tenant: Uuid,
    role: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<()> {
    let id = Uuid::new_v4();
    let hash = state.passwords.hash(password).await;
    let first = role.split('_').map(capitalise).collect::<Vec<_>>().join(" ");
    let row = accounts::UserRow {
        tenant,
        id,
        email,
        first_name: &first,
        last_name: "Sample",
        password_hash: Some(&hash),
        email_verified: true,
        ..Default::default()
    };
    accounts::insert_user(tx, &row).await?;
    let role_id: Uuid = sqlx::query_scalar("SELECT id FROM roles WHERE tenant_id = $1 AND name = $2")
        .bind(tenant)
        .bind(role)
        .fetch_one(&mut **tx)
        .await?;
    accounts::add_role(tx, tenant, id, role_id, None).await?;
    record_seeded(
        tx,
        tenant,
        AuditEvent::new(AuditAction::UserCreated, "user", id)
            .new_values(json!({"email": email, "roles": [role], "seeded": true})),
    )
    .await?;
    Ok(())
}

/// Audits a seeded row as the system (no user acted).
async fn record_seeded(tx: &mut PlatformTx, tenant: Uuid, event: AuditEvent) -> Result<(), sqlx::Error> {
    let tenant = tx.tenant(tenant).await?;
    audit::record(tx, tenant, &AuditActor::default(), event).await
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

async fn add_projects(tx: &mut PlatformTx, tenant: Uuid, owner: Uuid) -> anyhow::Result<()> {
    for (name, description, documents) in PROJECTS {
        let project = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO projects (tenant_id, id, name, description, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(tenant)
        .bind(project)
        .bind(name)
        .bind(description)
        .bind(owner)
        .execute(&mut **tx)
        .await?;
        record_seeded(
            tx,
            tenant,
            AuditEvent::new(AuditAction::ProjectCreated, "project", project)
                .new_values(json!({"name": name, "seeded": true})),
        )
        .await?;
        for doc in *documents {
            let id = Uuid::new_v4();
            sqlx::query(
                "INSERT INTO documents (tenant_id, id, project_id, name, description, status, created_by, updated_by) \
                 VALUES ($1, $2, $3, $4, 'Sample document (metadata only)', 'draft', $5, $5)",
            )
            .bind(tenant)
            .bind(id)
            .bind(project)
            .bind(doc)
            .bind(owner)
            .execute(&mut **tx)
            .await?;
            record_seeded(
                tx,
                tenant,
                AuditEvent::new(AuditAction::DocumentCreated, "document", id)
                    .new_values(json!({"name": doc, "project_id": project, "seeded": true})),
            )
            .await?;
        }
    }
    Ok(())
}
