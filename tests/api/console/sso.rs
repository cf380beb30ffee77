//! "Sign in with Google" on the sign-in page, through the test identity
//! provider and back via `/auth/callback`.

use reqwest::StatusCode;
use serde_json::json;

use super::browser::Browser;
use crate::{helpers::*, oauth::idp::TestIdp};

const GOOGLE_CLIENT: &str = "platform-google-client";
const GOOGLE_SECRET: &str = "platform-google-secret";

#[tokio::test]
async fn sso_button_signs_in_through_the_identity_provider() {
    let idp = TestIdp::start().await;
    let cfg = TestConfig::default()
        .set("FRONTEND_URL", "")
        .set("GOOGLE_ISSUER", idp.google_issuer())
        .set("GOOGLE_CLIENT_ID", GOOGLE_CLIENT)
        .set("GOOGLE_CLIENT_SECRET", GOOGLE_SECRET);
    let app = TestApp::spawn_with(cfg).await;
    idp.register_client(GOOGLE_CLIENT, GOOGLE_SECRET);
    let t = app.seed_tenant("acme").await;
    let sa = app.super_admin_token().await;
    let body = json!({"auto_provision_users": true, "allowed_domains": ["acme.test"], "default_role_name": "user"});
    let r = app
        .post(
            &format!("/api/v1/tenants/{}/identity-providers/google", t.id),
            &sa,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let Some(b) = Browser::open(&app).await else { return };
    b.go("/login").await;
    assert!(
        !b.text().await.contains("Sign in with Google"),
        "no organisation known yet"
    );
    b.go("/login?tenant=acme").await;
    assert!(
        !b.text().await.contains("Sign in with Microsoft"),
        "only configured providers"
    );
    b.press("Sign in with Google").await;

    // The browser is at the provider now; it authenticates the person and
    // sends the browser back with a code, as a real provider would.
    let url = b.client.current_url().await.unwrap().to_string();
    assert!(url.starts_with(&idp.base), "{url}");
    let params: std::collections::HashMap<String, String> =
        url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    assert_eq!(params["redirect_uri"], format!("{}/auth/callback", app.base));
    let claims = idp.google_claims("g-sub-1", "sso.person@acme.test", Some("acme.test"));
    let code = idp.issue_code(&url, claims);
    let back = url::Url::parse_with_params(
        &params["redirect_uri"],
        [("code", code.as_str()), ("state", params["state"].as_str())],
    )
    .unwrap();
    b.go(back.as_str()).await;
    assert_eq!(b.path().await, "/account");
    assert!(b.text().await.contains("sso.person@acme.test"));

    // A callback this browser did not start is refused.
    b.go(&format!("/auth/callback?code=x&state={}", params["state"])).await;
    assert!(b.path().await.starts_with("/login"));
    b.close().await;
}
