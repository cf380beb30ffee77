//! Single sign-on self-service in the browser: a tenant admin connects
//! Microsoft Entra ID (the redirect URI to copy, the secret never shown back),
//! runs "Test sign-in" against the local identity provider (the claims are
//! reported, nobody is signed in or created), and gets clear errors for a
//! wrong client secret and a wrong directory (tenant) ID; then deletes it.

use fantoccini::Locator;
use reqwest::StatusCode;

use super::browser::Browser;
use crate::{helpers::*, oauth::idp::TestIdp};

const TID: &str = "6f0c3f1e-8d42-4b7a-9a55-2f6b1c0d9e11";
const WRONG_TID: &str = "0b1e4c9a-1111-4c2d-8e3f-aaaaaaaaaaaa";
const CLIENT: &str = "acme-entra-app";
const SECRET: &str = "acme-entra-secret-value";

/// The value of the input with this id.
async fn value(b: &Browser, id: &str) -> String {
    b.client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Presses "Test sign-in"; the provider "signs the person in" with `claims`
/// and sends the browser back to `/auth/callback`, as a real one would.
async fn test_sign_in(b: &Browser, idp: &TestIdp, claims: serde_json::Value) {
    b.press("Test sign-in").await;
    let url = b.client.current_url().await.unwrap().to_string();
    assert!(url.starts_with(&idp.base), "at the provider: {url}");
    let params: std::collections::HashMap<String, String> =
        url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    let code = idp.issue_code(&url, claims);
    let back = url::Url::parse_with_params(
        &params["redirect_uri"],
        [("code", code.as_str()), ("state", params["state"].as_str())],
    )
    .unwrap();
    b.go(back.as_str()).await;
}

#[tokio::test]
async fn an_admin_connects_entra_tests_the_sign_in_and_sees_clear_errors() {
    let idp = TestIdp::start().await;
    let cfg = TestConfig::default()
        .set("FRONTEND_URL", "")
        .set("MICROSOFT_AUTHORITY", &idp.base);
    let app = TestApp::spawn_with(cfg).await;
    idp.register_client(CLIENT, SECRET);
    idp.only_directories(&[TID]);
    let t = app.seed_tenant("acme").await;

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("tenant_admin"), PASSWORD).await;
    b.press("Single sign-on").await;
    let redirect = format!("{}/auth/callback", app.base);
    assert_eq!(value(&b, "redirect-uri").await, redirect);
    b.press("Set up Microsoft Entra ID").await;
    assert_eq!(value(&b, "redirect-uri").await, redirect);
    b.fill("Application (client) ID", CLIENT).await;
    b.fill("Client secret", SECRET).await;
    b.fill("Directory (tenant) ID", TID).await;
    b.fill("Allowed email domains", "acme.test").await;
    b.labelled("Create accounts on first sign-in")
        .await
        .click()
        .await
        .unwrap();
    b.labelled("Role of new accounts")
        .await
        .select_by_value("viewer")
        .await
        .unwrap();
    b.press("Save connection").await;
    let text = b.text().await;
    assert!(text.contains("The changes are saved."), "{text}");
    assert!(text.contains("A secret is set"), "{text}");
    assert_eq!(value(&b, "client_secret").await, "", "the secret is never shown back");
    let html = b.client.source().await.unwrap();
    assert!(!html.contains(SECRET));
    // Tall enough for the whole form.
    b.client.set_window_size(1200, 1400).await.unwrap();
    b.screenshot("settings-sso").await;

    // Test sign-in: the provider's answer is reported, nobody is signed in.
    let claims = idp.entra_claims(TID, "oid-ada", "ada@acme.test");
    test_sign_in(&b, &idp, claims).await;
    let text = b.text().await;
    assert!(text.contains("Test sign-in: Microsoft Entra ID"), "{text}");
    assert!(text.contains(&idp.entra_issuer(TID)), "issuer: {text}");
    assert!(
        text.contains("pairwise-oid-ada") && text.contains("oid-ada"),
        "subject: {text}"
    );
    assert!(
        text.contains("Would create the account ada@acme.test with the role `viewer`"),
        "{text}"
    );
    b.screenshot("settings-sso-test").await;
    let mut su = app.db.superuser().await;
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'ada@acme.test'")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(created, 0, "a test creates nobody");
    let linked: i64 = sqlx::query_scalar("SELECT count(*) FROM user_identities")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(linked, 0);
    // Still the admin, in the same console session.
    b.go("/account").await;
    assert!(b.text().await.contains(t.email("tenant_admin")));

    // A test state cannot be used to sign in through the API.
    b.go("/admin/sso/microsoft").await;
    b.press("Test sign-in").await;
    let url = b.client.current_url().await.unwrap().to_string();
    let state: String = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let code = idp.issue_code(&url, idp.entra_claims(TID, "oid-eve", "eve@acme.test"));
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/oauth/microsoft/callback/acme",
            None,
            Some(serde_json::json!({"code": code, "state": state})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // A wrong client secret: the token endpoint says invalid_client.
    b.go("/admin/sso/microsoft").await;
    b.fill("Client secret", "not-the-secret").await;
    b.press("Save connection").await;
    test_sign_in(&b, &idp, idp.entra_claims(TID, "oid-ada", "ada@acme.test")).await;
    let text = b.text().await;
    assert!(text.contains("The test sign-in failed"), "{text}");
    assert!(
        text.contains("invalid_client") && text.contains("client secret"),
        "{text}"
    );

    // A wrong directory (tenant) ID: discovery fails before leaving the console.
    b.go("/admin/sso/microsoft").await;
    b.fill("Client secret", SECRET).await;
    b.fill("Directory (tenant) ID", WRONG_TID).await;
    b.press("Save connection").await;
    b.press("Test sign-in").await;
    assert_eq!(b.path().await, "/admin/sso/microsoft/test");
    let text = b.text().await;
    assert!(
        text.contains(&format!("did not answer for the directory (tenant) ID `{WRONG_TID}`")),
        "{text}"
    );

    b.go("/admin/sso/microsoft").await;
    b.press("Delete connection").await;
    b.press("Delete connection").await;
    assert!(b.text().await.contains("It is deleted."));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_identity_providers")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(left, 0);
    b.close().await;
}

/// A tenant admin cannot make a role they do not hold the default role of
/// new accounts (the API's no-escalation rule, through the same service).
#[tokio::test]
async fn the_default_role_cannot_exceed_the_admins_own_permissions() {
    let app = TestApp::spawn_with(TestConfig::default().set("FRONTEND_URL", "")).await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    // A custom admin: tenant:manage and users:read only.
    let r = app
        .post(
            "/api/v1/roles",
            &admin,
            serde_json::json!({"name": "sso_admin", "permissions": ["tenant:manage", "users:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let role = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/api/v1/users/{}/roles", t.user_id("viewer")),
            &admin,
            serde_json::json!({"role_id": role}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("viewer"), PASSWORD).await;
    b.go("/admin/sso/google").await;
    b.fill("Allowed email domains", "acme.test").await;
    b.labelled("Role of new accounts")
        .await
        .select_by_value("tenant_admin")
        .await
        .unwrap();
    b.press("Save connection").await;
    let text = b.text().await;
    assert!(text.contains("You cannot grant permissions you do not hold"), "{text}");
    let mut su = app.db.superuser().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_identity_providers")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    b.close().await;
}
