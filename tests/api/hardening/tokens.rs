//! Links do not outlive the credential or the account they were mailed for
//! (issue 13, item 6): a password change, a password reset and every kind of
//! deactivation (`DELETE /users/{id}`, `PUT is_active:false`, bulk deactivate,
//! tenant deactivation) end every open reset, set-password, invitation and
//! unlock link of the account.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{hardening::guessing::last_email, helpers::*};

const NEW_PASSWORD: &str = "A-Brand-New-Passphrase-77";

/// Mails a reset link to `email` in `slug`; answers its token.
async fn reset_token(app: &TestApp, email: &str, slug: &str) -> String {
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/request",
            None,
            Some(json!({"email": email, "tenant_slug": slug})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let mail = last_email(app, email, "password_reset").await.expect("reset mail");
    mail["token"].as_str().unwrap().to_string()
}

/// The link's confirmation answers 400: the token is dead.
async fn assert_dead(app: &TestApp, token: &str) {
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "new_password": NEW_PASSWORD})),
        )
        .await;
    r.assert_problem(StatusCode::BAD_REQUEST);
}

/// A user created without a password: answers (id, email, set-password token).
async fn user_with_set_password_link(app: &TestApp, admin: &str) -> (String, String, String) {
    let email = "fresh.person@acme.test";
    let r = app
        .post(
            "/api/v1/auth/create-user",
            admin,
            json!({"email": email, "first_name": "Fresh", "last_name": "Person"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let welcome = last_email(app, email, "welcome").await.expect("welcome mail");
    (id, email.to_string(), welcome["token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_password_change_ends_open_reset_links() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let link = reset_token(&app, t.email("user"), "acme").await;
    let token = t.token(&app, "user").await;
    let r = app
        .post(
            "/api/v1/auth/change-password",
            &token,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_dead(&app, &link).await;
    app.token(t.email("user"), NEW_PASSWORD, Some("acme")).await;
}

#[tokio::test]
async fn a_password_reset_ends_the_other_links() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let (_, email, set_password) = user_with_set_password_link(&app, &admin).await;
    let reset = reset_token(&app, &email, "acme").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": reset, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_dead(&app, &set_password).await;
}

#[tokio::test]
async fn delete_user_ends_reset_and_set_password_links() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let (id, email, set_password) = user_with_set_password_link(&app, &admin).await;
    let reset = reset_token(&app, &email, "acme").await;
    let r = app.delete(&format!("/api/v1/users/{id}"), &admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_dead(&app, &reset).await;
    assert_dead(&app, &set_password).await;
}

#[tokio::test]
async fn put_is_active_false_ends_reset_links() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let link = reset_token(&app, t.email("viewer"), "acme").await;
    let r = app
        .put(
            &format!("/api/v1/users/{}", t.user_id("viewer")),
            &admin,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_dead(&app, &link).await;
    // Reactivation does not bring the link back.
    let r = app
        .put(
            &format!("/api/v1/users/{}", t.user_id("viewer")),
            &admin,
            json!({"is_active": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_dead(&app, &link).await;
}

#[tokio::test]
async fn bulk_deactivate_ends_reset_links() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let link = reset_token(&app, t.email("viewer"), "acme").await;
    let r = app
        .post(
            "/api/v1/users/bulk/action",
            &admin,
            json!({"user_ids": [t.user_id("viewer")], "action": "deactivate"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_dead(&app, &link).await;
}

#[tokio::test]
async fn tenant_deactivation_ends_reset_and_invitation_links() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let reset = reset_token(&app, t.email("user"), "acme").await;
    let r = app
        .post(
            "/api/v1/users/invite",
            &admin,
            json!({"email": "invited@acme.test", "role_names": ["viewer"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let invitation = last_email(&app, "invited@acme.test", "invitation")
        .await
        .expect("invitation mail")["token"]
        .as_str()
        .unwrap()
        .to_string();

    let sa = app.super_admin_token().await;
    for step in ["deactivate", "activate"] {
        let r = app
            .post(&format!("/api/v1/tenants/{}/{step}", t.id), &sa, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{step}: {}", r.body);
    }
    // Back in business, but the links mailed before stay dead.
    assert_dead(&app, &reset).await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/accept-invitation",
            None,
            Some(json!({"token": invitation, "password": NEW_PASSWORD})),
        )
        .await;
    r.assert_problem(StatusCode::BAD_REQUEST);
}
