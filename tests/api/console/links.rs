//! Email links in the browser: the invitation mail's link → accept → signed
//! in; forgot password → the mail's link → new password → old sessions gone;
//! the lockout alert's unlock link → unlocked → signed in.

use reqwest::StatusCode;
use serde_json::json;

use super::browser::{Browser, console_app, mail_link};
use crate::helpers::*;

#[tokio::test]
async fn invitation_link_accept_and_signed_in() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let invitee = "newcomer@acme.test";
    let r = app
        .post("/api/v1/users/invite", &admin, json!({"email": invitee}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let link = mail_link(&app, invitee, "invitation").await;
    assert!(
        link.starts_with(&format!("{}/accept-invitation?token=", app.base)),
        "{link}"
    );

    let Some(b) = Browser::open(&app).await else { return };
    b.go(&link).await;
    assert_eq!(b.path().await, "/accept-invitation", "the token left the address bar");
    b.fill("First name", "Grace").await;
    b.fill("Last name", "Hopper").await;
    b.fill("Choose a password", "password1234").await;
    b.press("Create my account").await;
    assert!(b.text().await.contains("too common"), "the policy's rule is named");
    b.fill("Choose a password", "Compilers-Are-Fun-1952").await;
    b.press("Create my account").await;
    assert_eq!(b.path().await, "/account");
    let text = b.text().await;
    assert!(text.contains("Grace Hopper") && text.contains(invitee), "{text}");

    // The same link again: used, said plainly, with the next step.
    b.go(&link).await;
    let text = b.text().await;
    assert!(text.contains("expired or was already accepted"), "{text}");
    b.close().await;
}

#[tokio::test]
async fn forgot_password_link_sets_a_new_password_and_ends_old_sessions() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user").to_string();
    let old = t.token(&app, "user").await;
    assert_eq!(app.get("/api/v1/auth/status", &old).await.status, StatusCode::OK);

    let Some(b) = Browser::open(&app).await else { return };
    b.go("/login").await;
    b.press("Forgot your password?").await;
    b.fill("Email address", &email).await;
    b.press("Send reset link").await;
    assert!(b.text().await.contains("If an account exists for that email"));

    let link = mail_link(&app, &email, "password_reset").await;
    b.go(&link).await;
    assert_eq!(b.path().await, "/reset-password");
    let new_password = "Brand-New-Passphrase-77";
    b.fill("New password", new_password).await;
    b.press("Save password").await;
    assert_eq!(b.path().await, "/login?done=password_set");

    let r = app.get("/api/v1/auth/status", &old).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the old session is gone");
    b.signs_in(&email, PASSWORD).await;
    assert!(b.text().await.contains("Invalid email or password."));
    b.signs_in(&email, new_password).await;
    assert_eq!(b.path().await, "/account");

    b.go(&link).await;
    assert!(b.text().await.contains("expired or was already used"));
    b.press("Send me a new link").await;
    assert_eq!(b.path().await, "/forgot-password");
    b.close().await;
}

#[tokio::test]
async fn lockout_alert_unlock_link_ends_the_lock() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user").to_string();
    for _ in 0..5 {
        app.login(&email, "Wrong-Password-123", Some("acme"))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(&email, PASSWORD).await;
    assert!(b.text().await.contains("Invalid email or password."), "locked");

    let link = mail_link(&app, &email, "security_alert").await;
    assert!(link.contains("/unlock?token="), "{link}");
    b.go(&link).await;
    assert_eq!(b.path().await, "/unlock", "the token leaves the address bar");
    b.press("Unlock my account").await;
    assert!(b.text().await.contains("Your account is unlocked"));
    b.press("Go to sign-in").await;
    b.signs_in(&email, PASSWORD).await;
    assert_eq!(b.path().await, "/account");

    b.go(&link).await;
    assert!(b.text().await.contains("expired or was already used"));
    b.close().await;
}
