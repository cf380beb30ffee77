//! The platform pages in the browser: a super admin creates a tenant with its
//! first admin, acts as that admin with a reason and comes back, both audit
//! chains show it; limits, deactivation and the typed-slug deletion; a tenant
//! admin sees no platform menu and gets 403.

use fantoccini::Locator;
use reqwest::{StatusCode, header};
use serde_json::Value;
use uuid::Uuid;

use super::browser::{Browser, console_app};
use crate::helpers::*;

/// A console session cookie for `email` signed in over plain HTTP.
pub async fn console_cookie(app: &TestApp, email: &str, password: &str) -> String {
    let page = app.client.get(app.url("/login")).send().await.unwrap();
    let csrf_line = page
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tenantry_csrf="))
        .unwrap()
        .to_string();
    let csrf = csrf_line
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let r = app
        .client
        .post(app.url("/login"))
        .header(header::COOKIE, format!("tenantry_csrf={csrf}"))
        .form(&[("email", email), ("password", password), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{email} signs in");
    let session = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tenantry_session="))
        .unwrap();
    session.split(';').next().unwrap().to_string()
}

/// `(action, has an impersonator)` of the impersonation rows in `tenant`'s chain.
async fn impersonation_rows(app: &TestApp, tenant: Uuid) -> Vec<(String, bool)> {
    let mut su = app.db.superuser().await;
    sqlx::query_as(
        "SELECT action, impersonator_id IS NOT NULL FROM audit_logs \
         WHERE tenant_id = $1 AND action LIKE 'impersonation.%' ORDER BY seq",
    )
    .bind(tenant)
    .fetch_all(&mut su)
    .await
    .unwrap()
}

async fn nav_hrefs(b: &Browser) -> Vec<String> {
    let v: Value = b
        .client
        .execute(
            "return [...document.querySelectorAll('nav[aria-label=Main] a')].map(a => a.getAttribute('href'));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn super_admin_creates_a_tenant_acts_as_its_admin_and_both_audit_chains_show_it() {
    let app = console_app().await;
    app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD).await;
    assert!(nav_hrefs(&b).await.contains(&"/platform/tenants".to_string()));
    b.press("Tenants").await;
    assert_eq!(b.path().await, "/platform/tenants");

    b.press("Create a tenant").await;
    b.fill("Organisation name", "Initech").await;
    b.fill("Slug", "initech").await;
    b.fill("Admin email", "bill@initech.test").await;
    b.fill("Admin first name", "Bill").await;
    b.fill("Admin password (optional)", PASSWORD).await;
    b.press("Create tenant").await;
    let text = b.text().await;
    assert!(text.contains("The tenant is created"), "{text}");
    let mut su = app.db.superuser().await;
    let (tenant, admin): (Uuid, Uuid) = sqlx::query_as(
        "SELECT t.id, u.id FROM tenants t JOIN users u ON u.tenant_id = t.id \
         JOIN user_roles ur ON ur.tenant_id = u.tenant_id AND ur.user_id = u.id \
         JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
         WHERE t.slug = 'initech' AND u.email = 'bill@initech.test' AND r.name = 'tenant_admin'",
    )
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(b.path().await, format!("/platform/tenants/{tenant}?done=created"));

    b.go("/platform/tenants").await;
    let text = b.text().await;
    assert!(text.contains("Initech") && text.contains("Tenant acme"), "{text}");
    b.screenshot("platform-tenants").await;

    // Act as the tenant's admin, with a reason.
    b.press("Initech").await;
    b.fill("Reason", "Ticket 4711: invoices missing").await;
    b.press("Start impersonation").await;
    assert_eq!(b.path().await, "/account");
    let text = b.text().await;
    assert!(text.contains("Impersonation in progress"), "{text}");
    assert!(text.contains("acting as Bill"), "{text}");
    // The banner on every page; the platform is out of reach meanwhile.
    b.go("/account/sessions").await;
    assert!(b.text().await.contains("Impersonation in progress"));
    assert!(!nav_hrefs(&b).await.iter().any(|h| h.starts_with("/platform")));
    b.go("/platform/tenants").await;
    assert!(b.text().await.contains("These pages are for platform administrators."));
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_sessions WHERE tenant_id = $1 AND user_id = $2 \
         AND impersonation_reason = 'Ticket 4711: invoices missing' AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(admin)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(live, 1);
    b.go("/account/activity").await;

    // Ending it (from any framed page) returns the super admin to their own session, on the tenant's page.
    b.press("End impersonation").await;
    assert_eq!(
        b.path().await,
        format!("/platform/tenants/{tenant}?done=impersonation_ended")
    );
    let text = b.text().await;
    assert!(text.contains("You are yourself again") && !text.contains("Impersonation in progress"));
    assert!(nav_hrefs(&b).await.contains(&"/platform".to_string()));
    let revoked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_sessions WHERE tenant_id = $1 AND user_id = $2 \
         AND revoked_reason = 'impersonation_ended'",
    )
    .bind(tenant)
    .bind(admin)
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(revoked, 1);

    // Both chains: the tenant's rows carry the impersonator; the platform's too.
    let expected = vec![
        ("impersonation.started".to_string(), true),
        ("impersonation.ended".to_string(), true),
    ];
    assert_eq!(impersonation_rows(&app, tenant).await, expected);
    let system = impersonation_rows(&app, tenantry::db::SYSTEM_TENANT_ID).await;
    let actions: Vec<&str> = system.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["impersonation.started", "impersonation.ended"]);
    // …and the pages show them: the tenant's recent events, the system tenant's.
    let text = b.text().await;
    assert!(
        text.contains("impersonation.started") && text.contains("impersonation.ended"),
        "{text}"
    );
    assert!(text.contains("by a platform admin"), "{text}");
    b.client.set_window_size(1200, 1500).await.unwrap();
    b.screenshot("platform-tenant").await;
    b.go(&format!("/platform/tenants/{}", tenantry::db::SYSTEM_TENANT_ID))
        .await;
    let text = b.text().await;
    assert!(
        text.contains("impersonation.ended") && text.contains("Ticket 4711"),
        "{text}"
    );
    let token = app.super_admin_token().await;
    let verify = app.get("/api/v1/admin/audit/verify", &token).await;
    assert_eq!(verify.body["valid"], true, "{}", verify.body);
    b.close().await;
}

#[tokio::test]
async fn limits_status_and_a_deletion_that_needs_the_slug_typed() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD).await;

    // A taken slug comes back on the form with the API's reason.
    b.go("/platform/tenants/new").await;
    b.fill("Organisation name", "Acme again").await;
    b.fill("Slug", "acme").await;
    b.fill("Admin email", "x@acme2.test").await;
    b.press("Create tenant").await;
    let text = b.text().await;
    assert!(text.contains("The tenant was not created."), "{text}");
    assert_eq!(
        b.labelled("Organisation name")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "Acme again"
    );

    // Search and the status filter.
    b.go("/platform/tenants?search=acm").await;
    assert!(b.text().await.contains("1 tenant · page 1 of 1"));

    b.go(&format!("/platform/tenants/{}", t.id)).await;
    b.fill("User limit", "7").await;
    b.fill("Storage limit (GiB)", "2.5").await;
    b.press("Save limits").await;
    assert!(b.text().await.contains("The limits are saved."));
    let mut su = app.db.superuser().await;
    let (users, storage): (i32, i64) = sqlx::query_as("SELECT max_users, max_storage_bytes FROM tenants WHERE id = $1")
        .bind(t.id)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!((users, storage), (7, 2_684_354_560));

    b.press("Deactivate tenant").await;
    assert!(b.text().await.contains("The tenant is deactivated"));
    b.go("/platform/tenants?active=false").await;
    assert!(b.text().await.contains("Tenant acme"));
    b.go(&format!("/platform/tenants/{}", t.id)).await;
    b.press("Activate tenant").await;
    assert!(b.text().await.contains("The tenant is active again."));

    // Deletion: the wrong slug deletes nothing; the right one deletes.
    b.press("Delete tenant…").await;
    b.fill("Type the slug acme to confirm", "acm").await;
    b.press("Delete this tenant").await;
    assert!(b.text().await.contains("The slug you typed does not match."));
    let exists = |id: Uuid| {
        let url = app.db.url.clone();
        async move {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)")
                .bind(id)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    };
    assert!(exists(t.id).await);
    b.fill("Type the slug acme to confirm", "acme").await;
    b.press("Delete this tenant").await;
    assert_eq!(b.path().await, "/platform/tenants?done=deleted");
    assert!(!exists(t.id).await);
    b.close().await;
}

#[tokio::test]
async fn a_tenant_admin_sees_no_platform_menu_and_gets_403() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let cookie = console_cookie(&app, t.email("tenant_admin"), PASSWORD).await;
    for path in [
        "/platform",
        "/platform/tenants",
        "/platform/tenants/new",
        &format!("/platform/tenants/{}", t.id),
        "/platform/security",
    ] {
        let r = app
            .client
            .get(app.url(path))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(r.text().await.unwrap().contains("for platform administrators"));
    }
    // A POST with a valid CSRF token is refused the same way (no tenant is made).
    let page = app
        .client
        .get(app.url("/account"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("href=\"/platform"), "no platform menu: {page}");
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let r = app
        .client
        .post(app.url("/platform/tenants/new"))
        .header(header::COOKIE, &cookie)
        .form(&[
            ("csrf_token", csrf),
            ("name", "Evil"),
            ("slug", "evil"),
            ("admin_email", "e@evil.test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut su = app.db.superuser().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants WHERE slug = 'evil'")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // In the browser: no platform entries in the menu.
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    assert!(!nav_hrefs(&b).await.iter().any(|h| h.starts_with("/platform")));
    assert!(
        b.client.find(Locator::Css("nav a[href='/admin/users']")).await.is_ok(),
        "the tenant admin's own menu is there"
    );
    b.close().await;
}
