//! Signing in through the browser: password, MFA enrolment then a code,
//! revocation ending the console session, a stored `<script>` shown as text.

use reqwest::{Method, StatusCode};
use serde_json::json;
use totp_rs::{Builder, Secret};

use super::browser::{Browser, console_app, inline_scripts};
use crate::helpers::*;

fn code_at(secret_b32: &str, offset_secs: i64) -> String {
    let secret = Secret::try_from_base32(secret_b32).unwrap();
    let totp = Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build_noncompliant();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + offset_secs;
    totp.generate(now as u64).to_string()
}

#[tokio::test]
async fn password_sign_in_revocation_and_sign_out() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };

    b.go("/").await;
    assert_eq!(b.path().await, "/login");
    b.screenshot("sign-in").await;

    // A wrong password: the API's one generic message, and what to do next.
    b.signs_in(t.email("user"), "not-the-password").await;
    let text = b.text().await;
    assert!(text.contains("Invalid email or password."), "{text}");
    assert!(text.contains("locked for"), "lockout says what to do: {text}");

    b.signs_in(t.email("user"), PASSWORD).await;
    assert_eq!(b.path().await, "/account");
    let text = b.text().await;
    assert!(
        text.contains("Your profile") && text.contains(t.email("user")),
        "{text}"
    );
    assert!(!text.contains("Users"), "no admin menu without users:read");

    // The console session is the user_sessions row: terminating the user's
    // sessions through the API ends it at once.
    let admin = t.token(&app, "tenant_admin").await;
    let r = app
        .delete(&format!("/api/v1/users/{}/sessions", t.user_id("user")), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    b.go("/account").await;
    assert_eq!(b.path().await, "/login", "revoked session sends the browser to sign-in");

    // Sign in again, then sign out: the row is revoked.
    b.signs_in(t.email("user"), PASSWORD).await;
    assert_eq!(b.path().await, "/account");
    let other = t.token(&app, "user").await;
    b.go("/account/sessions").await;
    b.screenshot("sessions").await;
    assert!(b.text().await.contains("this session"));
    b.press("Sign out all other sessions").await;
    assert!(b.text().await.contains("All your other sessions are signed out."));
    let r = app.get("/api/v1/auth/status", &other).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the other session ended");
    b.press("Sign out").await;
    assert!(b.path().await.starts_with("/login"));
    assert!(b.text().await.contains("You have signed out."));
    let mut su = app.db.superuser().await;
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM user_sessions WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(t.user_id("user"))
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(live, 0, "sign-out revoked the session row");
    b.go("/account").await;
    assert_eq!(b.path().await, "/login");
    b.close().await;
}

#[tokio::test]
async fn mfa_enrolment_then_sign_in_with_a_code() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("user"), PASSWORD).await;
    b.go("/account/mfa").await;
    b.press("Set up two-factor authentication").await;
    let secret = b
        .client
        .find(fantoccini::Locator::Id("secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let svg = b.client.find(fantoccini::Locator::Css("figure.qr svg")).await;
    assert!(svg.is_ok(), "the QR code is an inline SVG");
    assert!(b.text().await.contains("shown only now"));
    b.screenshot("mfa-enrolment").await;

    b.fill("Confirmation code", &code_at(&secret, 0)).await;
    b.press("Turn on two-factor authentication").await;
    assert!(
        b.text().await.contains("Two-factor authentication is on."),
        "{}",
        b.text().await
    );
    b.press("Sign out").await;

    b.signs_in(t.email("user"), PASSWORD).await;
    assert_eq!(b.path().await, "/login/mfa");
    b.fill("Authentication code", "000000").await;
    b.press("Verify").await;
    assert!(b.text().await.contains("That code is not valid"));
    // The enrolment used the current step; the next one is fresh.
    b.fill("Authentication code", &code_at(&secret, 30)).await;
    b.press("Verify").await;
    assert_eq!(b.path().await, "/account");
    b.close().await;
}

#[tokio::test]
async fn a_stored_script_name_is_shown_as_text() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let name = "<script>document.title='owned'</script>";
    let r = app
        .call(
            Method::PUT,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"first_name": name})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("user"), PASSWORD).await;
    assert_eq!(b.path().await, "/account");
    assert!(b.text().await.contains(name), "the name is shown as text");
    assert_eq!(inline_scripts(&b).await, 0, "no script element was injected");
    assert_ne!(b.client.title().await.unwrap(), "owned");
    b.close().await;
}
