//! The audit log and the overview in the browser: filtering, a row's old →
//! new values as a diff with the changed keys marked, "Verify chain" (intact,
//! then broken after a forged row), and usage bars against the limits.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::browser::{Browser, console_app};
use crate::helpers::*;

#[tokio::test]
async fn an_admin_reads_an_update_as_a_diff_and_verifies_the_chain() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "project_manager").await;
    let r = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "Alpha", "description": "First cut", "status": "active"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .put(
            &format!("/api/v1/projects/{id}"),
            &token,
            json!({"name": "Beta", "status": "on_hold"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.press("Audit log").await;
    assert_eq!(b.path().await, "/audit");
    b.fill("Action", "project.updated").await;
    b.fill("Actor email", t.email("project_manager")).await;
    b.press("Filter").await;
    let text = b.text().await;
    assert!(text.contains("1 entry"), "{text}");
    assert!(text.contains(t.email("project_manager")), "{text}");
    // Another actor: nothing.
    b.go("/audit?action=project.updated&actor=viewer%40acme.test").await;
    assert!(b.text().await.contains("No entries match."));

    b.go("/audit?action=project.updated").await;
    b.client
        .find(Locator::Css("table.audit tbody a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("location.pathname.startsWith('/audit/')").await;
    let changed: Value = b
        .js("return Array.from(document.querySelectorAll('table.diff tr.changed th code'), e => e.textContent);")
        .await;
    let changed: Vec<&str> = changed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for key in ["name", "status", "version"] {
        assert!(changed.contains(&key), "{key} marked changed: {changed:?}");
    }
    assert!(
        !changed.contains(&"description"),
        "an unchanged key is not marked: {changed:?}"
    );
    let unchanged: Value = b
        .js("return Array.from(document.querySelectorAll('table.diff.same th code'), e => e.textContent);")
        .await;
    assert!(
        unchanged.as_array().unwrap().contains(&json!("description")),
        "{unchanged}"
    );
    let name_row = b
        .client
        .find(Locator::XPath("//table[@class='diff']//tr[th/code='name']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(name_row.contains("Alpha") && name_row.contains("Beta"), "{name_row}");
    b.screenshot("audit-diff").await;

    b.go("/audit").await;
    b.press("Verify chain").await;
    let text = b.text().await;
    assert!(text.contains("The chain is intact"), "{text}");
    let mut su = app.db.superuser().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert!(text.contains(&format!("all {rows} entries")), "{text}");

    // A row forged behind the application's back breaks it.
    for sql in [
        "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_immutable",
        "UPDATE audit_logs SET new_values = '{\"name\":\"forged\"}' WHERE tenant_id = $1 AND seq = 1",
        "ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_immutable",
    ] {
        sqlx::query(sql).bind(t.id).execute(&mut su).await.unwrap();
    }
    b.go("/audit").await;
    b.press("Verify chain").await;
    let text = b.text().await;
    assert!(text.contains("The chain is broken at entry 1."), "{text}");
    b.close().await;
}

#[tokio::test]
async fn the_overview_shows_usage_against_the_limits() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE tenants SET max_users = 5, max_projects = 10, max_storage_bytes = 1048576, storage_used_bytes = 262144 WHERE id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.press("Overview").await;
    let text = b.text().await;
    assert!(text.contains("4 of 5 (80 %)"), "four active users of five: {text}");
    assert!(text.contains("0 of 10 (0 %)"), "{text}");
    assert!(text.contains("256.0 KiB of 1.0 MiB (25 %)"), "{text}");
    let storage = b.labelled("Storage").await;
    assert_eq!(storage.attr("value").await.unwrap().as_deref(), Some("262144"));
    assert_eq!(storage.attr("max").await.unwrap().as_deref(), Some("1048576"));
    b.close().await;
}
