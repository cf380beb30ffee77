//! OAuth/OIDC sign-in against the local identity provider of [`idp`], and the
//! helpers the sign-in tests share:
//! - `login_flow`: provisioning, linking and returning sign-ins; state handling;
//! - `token_validation`: ID tokens with a wrong nonce, audience, issuer, expiry,
//!   signature, key or directory are refused;
//! - `tenant_rules`: hosted and email domains, verified email, auto-provisioning,
//!   user limit, inactive users and tenants, disabled providers;
//! - `provider_errors`: the provider failing, unreachable, or redirecting badly.
//!
//! The identity-provider configuration API (`/api/v1/tenants/{id}/identity-providers`)
//! is tested in `tenants/identity_providers.rs`, on these helpers.

pub mod idp;
mod login_flow;
mod provider_errors;
mod tenant_rules;
mod token_validation;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::{helpers::*, support::CLOSED_ADDR};
use idp::{AuthRequest, TestIdp, test_key};

pub(crate) const TID: &str = "6f0c3f1e-8d42-4b7a-9a55-2f6b1c0d9e11";
const OTHER_TID: &str = "0b1e4c9a-1111-4c2d-8e3f-aaaaaaaaaaaa";
const MS_CLIENT: &str = "entra-app-client";
pub(crate) const MS_SECRET: &str = "entra-app-secret-value";
const GOOGLE_CLIENT: &str = "platform-google-client";
const GOOGLE_SECRET: &str = "platform-google-secret";

/// The app wired to the local provider: Entra authority and Google issuer on
/// loopback, and the platform's (multi-tenant) Google client in configuration.
pub(crate) async fn setup() -> (TestApp, TestIdp, String) {
    setup_with(TestConfig::default()).await
}

pub(crate) async fn setup_with(extra: TestConfig) -> (TestApp, TestIdp, String) {
    let idp = TestIdp::start().await;
    let mut cfg = TestConfig::default()
        .set("MICROSOFT_AUTHORITY", &idp.base)
        .set("GOOGLE_ISSUER", idp.google_issuer())
        .set("GOOGLE_CLIENT_ID", GOOGLE_CLIENT)
        .set("GOOGLE_CLIENT_SECRET", GOOGLE_SECRET)
        .set("OAUTH_REDIRECT_ALLOWLIST", "http://mobile.tenantry.test/cb");
    cfg.0.extend(extra.0);
    let app = TestApp::spawn_with(cfg).await;
    idp.register_client(MS_CLIENT, MS_SECRET);
    idp.register_client(GOOGLE_CLIENT, GOOGLE_SECRET);
    let sa = app.super_admin_token().await;
    (app, idp, sa)
}

pub(crate) async fn configure_microsoft(app: &TestApp, sa: &str, t: &SeededTenant, extra: Value) -> Value {
    let mut body = json!({
        "client_id": MS_CLIENT, "client_secret": MS_SECRET, "azure_tenant_id": TID,
        "auto_provision_users": true, "allowed_domains": [], "default_role_name": "viewer",
    });
    merge(&mut body, extra);
    configure(app, sa, t, "microsoft", body).await
}

pub(crate) async fn configure_google(app: &TestApp, sa: &str, t: &SeededTenant, extra: Value) -> Value {
    let mut body = json!({
        "auto_provision_users": true, "allowed_domains": [format!("{}.test", t.slug)], "default_role_name": "user",
    });
    merge(&mut body, extra);
    configure(app, sa, t, "google", body).await
}

async fn configure(app: &TestApp, sa: &str, t: &SeededTenant, provider: &str, body: Value) -> Value {
    let r = app
        .post(
            &format!("/api/v1/tenants/{}/identity-providers/{provider}", t.id),
            sa,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

fn merge(base: &mut Value, extra: Value) {
    if let Value::Object(m) = extra {
        for (k, v) in m {
            base[k] = v;
        }
    }
}

/// Starts a sign-in; returns (authorization_url, state).
async fn start(app: &TestApp, provider: &str, slug: &str) -> (String, String) {
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/auth/oauth/{provider}/login/{slug}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (
        r.body["authorization_url"].as_str().unwrap().to_string(),
        r.body["state"].as_str().unwrap().to_string(),
    )
}

async fn callback(app: &TestApp, provider: &str, slug: &str, body: Value) -> Resp {
    app.call(
        Method::POST,
        &format!("/api/v1/auth/oauth/{provider}/callback/{slug}"),
        None,
        Some(body),
    )
    .await
}

/// A whole sign-in where the provider issues `claims`.
async fn sign_in(app: &TestApp, idp: &TestIdp, provider: &str, slug: &str, claims: Value) -> Resp {
    let (url, state) = start(app, provider, slug).await;
    let code = idp.issue_code(&url, claims);
    callback(app, provider, slug, json!({"code": code, "state": state})).await
}

async fn user_roles(app: &TestApp, tenant: Uuid, email: &str) -> Vec<String> {
    let mut c = app.db.superuser().await;
    sqlx::query_scalar(
        "SELECT r.name FROM users u JOIN user_roles ur ON ur.tenant_id = u.tenant_id AND ur.user_id = u.id \
         JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
         WHERE u.tenant_id = $1 AND lower(u.email) = lower($2) ORDER BY 1",
    )
    .bind(tenant)
    .bind(email)
    .fetch_all(&mut c)
    .await
    .unwrap()
}

/// How many rows of `table` belong to `tenant`.
async fn rows(app: &TestApp, table: &str, tenant: Uuid) -> i64 {
    count(
        app,
        &format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
        tenant,
    )
    .await
}

async fn count(app: &TestApp, sql: &str, tenant: Uuid) -> i64 {
    let mut c = app.db.superuser().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(tenant)
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// Signs in with `claims` and expects the problem `status`.
async fn refused(app: &TestApp, idp: &TestIdp, slug: &str, claims: Value, status: StatusCode) -> Resp {
    let r = sign_in(app, idp, "microsoft", slug, claims).await;
    r.assert_problem(status);
    r
}

async fn ms_tenant(slug: &str) -> (TestApp, TestIdp, SeededTenant) {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant(slug).await;
    configure_microsoft(&app, &sa, &t, json!({})).await;
    (app, idp, t)
}

#[tokio::test]
async fn oauth_routes_and_schemas_are_in_openapi() {
    let app = TestApp::spawn().await;
    let doc = app.public_json("/openapi.json").await;
    for path in [
        "/api/v1/auth/oauth/{provider}/login/{tenant_slug}",
        "/api/v1/auth/oauth/{provider}/callback/{tenant_slug}",
        "/api/v1/tenants/{id}/identity-providers",
        "/api/v1/tenants/{id}/identity-providers/microsoft",
        "/api/v1/tenants/{id}/identity-providers/google",
        "/api/v1/tenants/{id}/identity-providers/{provider_id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from /openapi.json");
    }
    for schema in [
        "IdentityProviderView",
        "CreateIdentityProvider",
        "LoginStart",
        "CallbackBody",
        "TokenResponse",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing"
        );
    }
}
