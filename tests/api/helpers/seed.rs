//! Seeding: a tenant with its four system roles and one user per role, written
//! directly in the database.

use std::collections::HashMap;

use uuid::Uuid;

use super::{PASSWORD, TestApp};

impl TestApp {
    /// Creates a tenant directly in the database (with its four system roles) and
    /// one user per system role; returns ids and emails. For tests that need data
    /// without going through the tenants API.
    pub async fn seed_tenant(&self, slug: &str) -> SeededTenant {
        let mut c = self.db.superuser().await;
        let tenant_id = Uuid::new_v4();
        sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)")
            .bind(tenant_id)
            .bind(slug)
            .bind(format!("Tenant {slug}"))
            .execute(&mut c)
            .await
            .unwrap();
        let hash = self.state_passwords_hash(PASSWORD).await;
        let mut users = HashMap::new();
        let mut roles = HashMap::new();
        for (role, _) in tenantry::rbac::SYSTEM_ROLES {
            let role_id = Uuid::new_v4();
            sqlx::query("INSERT INTO roles (tenant_id, id, name, is_system) VALUES ($1, $2, $3, true)")
                .bind(tenant_id)
                .bind(role_id)
                .bind(role)
                .execute(&mut c)
                .await
                .unwrap();
            for p in tenantry::rbac::system_role_permissions(role) {
                sqlx::query("INSERT INTO role_permissions (tenant_id, role_id, permission) VALUES ($1, $2, $3)")
                    .bind(tenant_id)
                    .bind(role_id)
                    .bind(p.as_str())
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            let user_id = Uuid::new_v4();
            let email = format!("{role}@{slug}.test");
            sqlx::query(
                "INSERT INTO users (tenant_id, id, email, first_name, last_name, password_hash, email_verified_at) \
                 VALUES ($1, $2, $3, $4, 'Tester', $5, now())",
            )
            .bind(tenant_id)
            .bind(user_id)
            .bind(&email)
            .bind(*role)
            .bind(&hash)
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query("INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ($1, $2, $3)")
                .bind(tenant_id)
                .bind(user_id)
                .bind(role_id)
                .execute(&mut c)
                .await
                .unwrap();
            users.insert(role.to_string(), (user_id, email));
            roles.insert(role.to_string(), role_id);
        }
        SeededTenant {
            id: tenant_id,
            slug: slug.to_string(),
            users,
            roles,
        }
    }

    async fn state_passwords_hash(&self, password: &str) -> String {
        tenantry::auth::password::Passwords::default().hash(password).await
    }
}

/// A tenant made by [`TestApp::seed_tenant`].
pub struct SeededTenant {
    pub id: Uuid,
    pub slug: String,
    /// role name → (user id, email); every password is [`PASSWORD`].
    pub users: HashMap<String, (Uuid, String)>,
    pub roles: HashMap<String, Uuid>,
}

impl SeededTenant {
    pub fn email(&self, role: &str) -> &str {
        &self.users[role].1
    }
    pub fn user_id(&self, role: &str) -> Uuid {
        self.users[role].0
    }
    pub async fn token(&self, app: &TestApp, role: &str) -> String {
        app.token(self.email(role), PASSWORD, Some(&self.slug)).await
    }
}
