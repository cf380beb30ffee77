//! The platform dashboard's server-drawn charts and the security page's
//! actions (unlock, remove a suppression, run the cleanup), in the browser.

use fantoccini::Locator;
use serde_json::{Value, json};

use super::browser::{Browser, console_app};
use crate::helpers::*;

async fn count(b: &Browser, css: &str) -> u64 {
    let v: Value = b
        .client
        .execute(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    v.as_u64().unwrap()
}

#[tokio::test]
async fn the_dashboard_draws_growth_sign_ins_and_the_email_queue_as_svg() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    // Today's sign-ins: two that work, one that fails.
    t.token(&app, "user").await;
    t.token(&app, "viewer").await;
    let r = app.login(t.email("user"), "wrong-password-1", Some("acme")).await;
    assert_eq!(r.status, reqwest::StatusCode::UNAUTHORIZED);

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD).await;
    b.press("Dashboard").await;
    assert_eq!(b.path().await, "/platform");
    let text = b.text().await;
    assert!(
        text.contains("Platform dashboard") && text.contains("Locked accounts"),
        "{text}"
    );
    // Two tenants (system and acme), five users: the API's numbers.
    let users = b
        .client
        .find(Locator::XPath("//span[.='Users']/following-sibling::span[1]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(users, "5");

    // Growth: three plotted lines (plus three legend marks), 3 px wide; the
    // grid and axes are 1 px.
    assert_eq!(count(&b, "#chart-growth svg polyline[stroke-width='3']").await, 6);
    let labels = b
        .client
        .find(Locator::Css("#chart-growth svg"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(labels.contains("Tenants") && labels.contains("Users") && labels.contains("Projects"));
    // Sign-ins: today's bar of each kind, two legend swatches, the background.
    assert!(count(&b, "#chart-sign-ins svg rect").await >= 5);
    assert!(
        text.contains("3 successful and 1 failed sign-ins in the last 30 days"),
        "{text}"
    );
    assert!(count(&b, "#chart-email svg rect").await >= 1);
    // Nothing inline-styled (the CSP would block it): presentation attributes only.
    assert_eq!(count(&b, "svg [style], svg[style]").await, 0);
    let drawn: Value = b
        .client
        .execute(
            "return document.querySelector('#chart-growth svg').getBoundingClientRect().width;",
            vec![],
        )
        .await
        .unwrap();
    assert!(drawn.as_f64().unwrap() > 300.0, "the chart is laid out: {drawn}");
    b.client.set_window_size(1200, 1750).await.unwrap();
    b.screenshot("platform-dashboard").await;

    b.press("7 days").await;
    assert_eq!(b.path().await, "/platform?days=7");
    assert!(b.text().await.contains("in the last 7 days"));
    b.go("/platform?days=12").await;
    assert!(
        b.text().await.contains("in the last 30 days"),
        "an unknown range falls back"
    );
    b.close().await;
}

#[tokio::test]
async fn security_page_unlocks_removes_a_suppression_and_runs_the_cleanup() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let locked = t.user_id("user");
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE users SET failed_login_count = 5, locked_until = now() + interval '1 hour' WHERE id = $1")
        .bind(locked)
        .execute(&mut su)
        .await
        .unwrap();
    sqlx::query("INSERT INTO email_suppressions (email, reason) VALUES ('bounced@example.test', 'bounce')")
        .execute(&mut su)
        .await
        .unwrap();
    // Several failures against one account: "under attack".
    for _ in 0..5 {
        app.login(t.email("viewer"), "not-the-password", Some("acme")).await;
    }

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD).await;
    b.press("Security").await;
    assert_eq!(b.path().await, "/platform/security");
    let text = b.text().await;
    assert!(
        text.contains(t.email("viewer")),
        "the attacked account is listed: {text}"
    );
    assert!(text.contains("bounced@example.test"), "{text}");

    // Unlock the locked user (the only row with an Unlock button besides the
    // viewer, whose failures also count).
    b.client
        .find(Locator::Css(&format!(
            "button[aria-label='Unlock {}']",
            t.email("user")
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..100 {
        if b.text().await.contains("The account is unlocked.") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(b.text().await.contains("The account is unlocked."));
    let (failures, locked_until): (i32, Option<time::OffsetDateTime>) =
        sqlx::query_as("SELECT failed_login_count, locked_until FROM users WHERE id = $1")
            .bind(locked)
            .fetch_one(&mut su)
            .await
            .unwrap();
    assert_eq!((failures, locked_until), (0, None));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'user.unlocked'")
            .bind(t.id)
            .fetch_one(&mut su)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    // The user signs in again.
    t.token(&app, "user").await;

    b.press("Remove").await;
    assert!(
        b.text()
            .await
            .contains("The address is removed from the suppression list.")
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM email_suppressions")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(left, 0);

    // An expired session for the cleanup to remove.
    sqlx::query("UPDATE user_sessions SET expires_at = now() - interval '1 day' WHERE tenant_id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    b.press("Run cleanup now").await;
    let text = b.text().await;
    assert!(text.contains("Cleanup done"), "{text}");
    let sessions_row = b
        .client
        .find(Locator::XPath("//tr[td[1]='sessions']/td[2]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(sessions_row, "0", "the expired session was removed: {text}");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM maintenance_runs")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(runs, 1);
    b.close().await;
}
