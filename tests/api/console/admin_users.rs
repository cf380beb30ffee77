//! Tenant administration of users in the browser: search, filters,
//! deactivation behind a confirmation, bulk actions with per-row results,
//! invitations, role assignment with an expiry, and the 403 a viewer gets.

use fantoccini::Locator;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::browser::{Browser, console_app};
use crate::helpers::*;

async fn is_active(app: &TestApp, user: Uuid) -> bool {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar("SELECT is_active FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut su)
        .await
        .unwrap()
}

async fn tick(b: &Browser, user: Uuid) {
    b.client
        .find(Locator::Id(&format!("select-{user}")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn tenant_admin_searches_deactivates_with_confirmation_and_acts_in_bulk() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.press("Users").await;
    assert_eq!(b.path().await, "/admin/users");
    let text = b.text().await;
    for role in ["tenant_admin", "project_manager", "user", "viewer"] {
        assert!(text.contains(t.email(role)), "{role} listed: {text}");
    }
    b.screenshot("admin-users").await;

    // Search narrows the table (the API's own filter).
    b.fill("Search", "project_").await;
    b.press("Filter").await;
    let text = b.text().await;
    assert!(
        text.contains(t.email("project_manager")) && !text.contains(t.email("viewer")),
        "{text}"
    );
    assert!(text.contains("1 user · page 1 of 1"), "{text}");

    // Deactivation asks first; nothing changes until confirmed.
    let pm = t.user_id("project_manager");
    b.press(t.email("project_manager")).await;
    assert_eq!(b.path().await, format!("/admin/users/{pm}"));
    b.press("Deactivate user").await;
    assert!(b.text().await.contains("Deactivate this user?"));
    assert!(is_active(&app, pm).await, "the confirmation page changes nothing");
    b.press("Yes, deactivate").await;
    assert!(b.text().await.contains("The user is deactivated"), "{}", b.text().await);
    assert!(!is_active(&app, pm).await);

    // The status filter and sorting by email (descending: viewer first).
    b.go("/admin/users?active=false").await;
    let text = b.text().await;
    assert!(
        text.contains(t.email("project_manager")) && !text.contains(t.email("viewer")),
        "{text}"
    );
    b.go("/admin/users?sort=-email").await;
    let text = b.text().await;
    let (v, a) = (
        text.find(t.email("viewer")).unwrap(),
        text.find(t.email("tenant_admin")).unwrap(),
    );
    assert!(v < a, "sorted by email, descending: {text}");

    // Bulk: the viewer is deactivated, the admin's own row is refused (409),
    // each row says what happened.
    b.go("/admin/users").await;
    tick(&b, t.user_id("viewer")).await;
    tick(&b, t.user_id("tenant_admin")).await;
    b.labelled("With the selected users")
        .await
        .select_by_value("deactivate")
        .await
        .unwrap();
    b.press("Apply to selected").await;
    let text = b.text().await;
    assert!(text.contains("1 succeeded, 1 failed."), "{text}");
    assert!(text.contains("You cannot deactivate your own account"), "{text}");
    assert!(text.contains("refused (409)"), "{text}");
    assert!(!is_active(&app, t.user_id("viewer")).await);
    assert!(is_active(&app, t.user_id("tenant_admin")).await);
    b.close().await;
}

#[tokio::test]
async fn tenant_admin_invites_and_assigns_a_role_until_a_date() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.go("/admin/users").await;
    b.press("Invite a user").await;
    b.fill("Email address", "new.person@acme.test").await;
    b.labelled("viewer").await.click().await.unwrap();
    b.press("Send invitation").await;
    assert!(b.text().await.contains("The invitation is sent."), "{}", b.text().await);
    let mut su = app.db.superuser().await;
    let roles: Vec<String> = sqlx::query_scalar("SELECT role_names FROM invitations WHERE email = $1")
        .bind("new.person@acme.test")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(roles, ["user", "viewer"]);

    // The API's refusal comes back on the form, readable.
    b.go("/admin/users/invite").await;
    b.fill("Email address", t.email("viewer")).await;
    b.press("Send invitation").await;
    assert!(b.text().await.contains("already exists"), "{}", b.text().await);

    // A role until a date: held through that whole day (UTC).
    let user = t.user_id("user");
    b.go(&format!("/admin/users/{user}")).await;
    b.labelled("Role to assign")
        .await
        .select_by_value(&t.roles["project_manager"].to_string())
        .await
        .unwrap();
    b.client
        .execute(
            "document.getElementById('expires_on').value = arguments[0];",
            vec![json!("2030-01-31")],
        )
        .await
        .unwrap();
    b.press("Assign role").await;
    let text = b.text().await;
    assert!(text.contains("The role is assigned."), "{text}");
    assert!(text.contains("project_manager until 2030-02-01 00:00 UTC"), "{text}");
    let expires: Option<OffsetDateTime> =
        sqlx::query_scalar("SELECT expires_at FROM user_roles WHERE user_id = $1 AND role_id = $2")
            .bind(user)
            .bind(t.roles["project_manager"])
            .fetch_one(&mut su)
            .await
            .unwrap();
    assert_eq!(expires.unwrap().unix_timestamp(), 1_896_134_400, "2030-02-01T00:00:00Z");
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_no_admin_menu_and_gets_403_pages() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("viewer"), PASSWORD).await;
    assert_eq!(b.path().await, "/account");
    let admin_links = b.client.find_all(Locator::Css("nav a[href^='/admin']")).await.unwrap();
    assert!(admin_links.is_empty(), "no administration entries in the menu");
    for path in [
        "/admin/users".to_string(),
        "/admin/users/invite".to_string(),
        format!("/admin/users/{}", t.user_id("user")),
    ] {
        b.go(&path).await;
        let text = b.text().await;
        assert!(text.contains("You do not have access to this page."), "{path}: {text}");
    }
    b.close().await;
}
