//! Custom roles on the permission matrix in the browser: a permission the
//! admin lacks is disabled, the role is created through the API's handler and
//! assigned to a user until a date.

use fantoccini::Locator;
use serde_json::json;
use uuid::Uuid;

use super::browser::{Browser, admin_without_audit_read, console_app};
use crate::helpers::*;

#[tokio::test]
async fn an_admin_without_audit_read_builds_a_role_on_the_matrix_and_assigns_it() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    // A custom admin: everything but audit:read.
    admin_without_audit_read(&app, &t, "people_admin").await;

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("user"), PASSWORD).await;
    b.press("Roles").await;
    let text = b.text().await;
    assert!(text.contains("people_admin") && text.contains("tenant_admin"), "{text}");
    b.press("New role").await;
    let cell = |name: &str| format!("perm-{name}");
    let audit = b.client.find(Locator::Id(&cell("audit:read"))).await.unwrap();
    assert!(
        audit.attr("disabled").await.unwrap().is_some(),
        "a permission the admin lacks is disabled"
    );
    let users_read = b.client.find(Locator::Id(&cell("users:read"))).await.unwrap();
    assert!(users_read.attr("disabled").await.unwrap().is_none());
    b.fill("Role name", "auditor_helper").await;
    b.fill("Description", "Reads users and projects").await;
    for p in ["users:read", "projects:read"] {
        b.client
            .find(Locator::Id(&cell(p)))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    b.screenshot("admin-role-matrix").await;
    b.press("Save role").await;
    let text = b.text().await;
    assert!(
        text.contains("The role is saved.") && text.contains("auditor_helper"),
        "{text}"
    );
    let mut su = app.db.superuser().await;
    let (id, perms): (Uuid, Vec<String>) = sqlx::query_as(
        "SELECT r.id, ARRAY(SELECT permission FROM role_permissions p WHERE p.role_id = r.id ORDER BY 1) \
         FROM roles r WHERE r.tenant_id = $1 AND r.name = 'auditor_helper'",
    )
    .bind(t.id)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(perms, ["projects:read", "users:read"]);

    // A system role opens read-only.
    b.go(&format!("/admin/roles/{}", t.roles["viewer"])).await;
    assert!(b.text().await.contains("read-only"));
    assert!(
        b.client
            .find(Locator::XPath("//button[normalize-space(.)='Save role']"))
            .await
            .is_err()
    );

    // Assigned to the viewer until a date, from the user's page.
    b.go(&format!("/admin/users/{}", t.user_id("viewer"))).await;
    b.labelled("Role to assign")
        .await
        .select_by_value(&id.to_string())
        .await
        .unwrap();
    b.client
        .execute(
            "document.getElementById('expires_on').value = arguments[0];",
            vec![json!("2031-06-30")],
        )
        .await
        .unwrap();
    b.press("Assign role").await;
    let text = b.text().await;
    assert!(text.contains("auditor_helper until 2031-07-01 00:00 UTC"), "{text}");
    b.close().await;
}
