//! The CSV import on the invite page in the browser: rows go in batches with a
//! progress bar, each row gets its result, a row asking for a role whose
//! permissions the admin does not hold fails with the API's detail, and the
//! created accounts are in the users table.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::browser::{Browser, admin_without_audit_read, console_app};
use crate::helpers::*;

#[tokio::test]
async fn an_admin_imports_a_csv_with_progress_and_per_row_results() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    // The importing admin holds everything but audit:read; `auditor` carries it.
    let admin = t.token(&app, "tenant_admin").await;
    admin_without_audit_read(&app, &t, "people_admin").await;
    let r = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "auditor", "permissions": ["audit:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // 4 named rows, a line without an email, and 12 more: three batches.
    let mut csv = String::from(
        "email,first_name,last_name,roles\n\
         ann@acme.test,Ann,Lee,viewer\n\
         bob@acme.test,Bob,Ray,auditor\n\
         ,No,Email,viewer\n\
         \"cy@acme.test\",\"Cy, Jr.\",,user;viewer\n\
         viewer@acme.test,Vi,,viewer\n",
    );
    for n in 0..12 {
        csv.push_str(&format!("p{n}@acme.test,P{n},Person,user\n"));
    }

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("user"), PASSWORD).await;
    b.go("/admin/users/invite").await;
    b.fill("CSV text", &csv).await;
    b.click("Import users").await;
    b.wait_for("document.getElementById('import-status').textContent.startsWith('Done')")
        .await;
    let progress: Value = b
        .js("const p = document.getElementById('import-progress'); return [p.value, p.max];")
        .await;
    assert_eq!(progress, json!([16, 16]), "the bar is full: every parsed row was sent");
    let text = b.text().await;
    assert!(text.contains("Done: 14 created, 3 failed."), "{text}");
    let rows = b
        .client
        .find_all(Locator::Css("#import-results tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 17, "one result line per CSV line");
    let mut bob = None;
    let mut lines = Vec::new();
    for row in rows {
        lines.push(row.attr("data-line").await.unwrap().unwrap().parse::<usize>().unwrap());
        let line = row.text().await.unwrap();
        if line.contains("bob@acme.test") {
            bob = Some(line);
        }
    }
    assert_eq!(lines, (2..=18).collect::<Vec<_>>(), "results in file order");
    let bob = bob.expect("bob's row is shown");
    assert!(
        bob.contains("refused (403)") && bob.contains("You cannot grant permissions you do not hold: audit:read"),
        "{bob}"
    );
    assert!(text.contains("No email address on this line"), "{text}");
    assert!(text.contains("refused (409)"), "the existing member's row: {text}");
    b.js("document.getElementById('import-heading').scrollIntoView(); return null;")
        .await;
    b.screenshot("csv-import").await;

    // The created accounts are in the users table; the refused one is not.
    b.go("/admin/users?search=acme.test&sort=email").await;
    let text = b.text().await;
    for email in ["ann@acme.test", "cy@acme.test"] {
        assert!(text.contains(email), "{email} listed: {text}");
    }
    assert!(!text.contains("bob@acme.test"), "{text}");
    let mut su = app.db.superuser().await;
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT r.name FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id \
         WHERE u.email = 'cy@acme.test' ORDER BY 1",
    )
    .fetch_all(&mut su)
    .await
    .unwrap();
    assert_eq!(roles, ["user", "viewer"]);
    let first: String = sqlx::query_scalar("SELECT first_name FROM users WHERE email = 'cy@acme.test'")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(first, "Cy, Jr.", "a quoted field keeps its comma");
    b.close().await;
}

#[tokio::test]
async fn without_javascript_the_form_imports_in_one_post() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.go("/admin/users/invite").await;
    // The form's own submission, as a browser without the script sends it.
    b.fill("CSV text", "dee@acme.test,viewer\nnot-an-email,viewer\n").await;
    b.js("document.getElementById('csv-import').submit(); return null;")
        .await;
    b.wait_for("location.pathname === '/admin/users/import'").await;
    let text = b.text().await;
    assert!(text.contains("1 created, 1 failed."), "{text}");
    assert!(
        text.contains("dee@acme.test") && text.contains("refused (422)"),
        "{text}"
    );
    b.close().await;
}
