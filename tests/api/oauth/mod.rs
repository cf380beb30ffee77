//! OAuth/OIDC sign-in against the local identity provider of `oauth_idp`, and
//! the super-admin identity-provider configuration API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::{
    helpers::*,
    oauth_idp::{AuthRequest, TestIdp, test_key},
    support::free_port,
};

const TID: &str = "6f0c3f1e-8d42-4b7a-9a55-2f6b1c0d9e11";
const OTHER_TID: &str = "0b1e4c9a-1111-4c2d-8e3f-aaaaaaaaaaaa";
const MS_CLIENT: &str = "entra-app-client";
const MS_SECRET: &str = "entra-app-secret-value";
const GOOGLE_CLIENT: &str = "platform-google-client";
const GOOGLE_SECRET: &str = "platform-google-secret";

/// The app wired to the local provider: Entra authority and Google issuer on
/// loopback, and the platform's (multi-tenant) Google client in configuration.
async fn setup() -> (TestApp, TestIdp, String) {
    setup_with(TestConfig::default()).await
}

async fn setup_with(extra: TestConfig) -> (TestApp, TestIdp, String) {
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

async fn configure_microsoft(app: &TestApp, sa: &str, t: &SeededTenant, extra: Value) -> Value {
    let mut body = json!({
        "client_id": MS_CLIENT, "client_secret": MS_SECRET, "azure_tenant_id": TID,
        "auto_provision_users": true, "allowed_domains": [], "default_role_name": "viewer",
    });
    merge(&mut body, extra);
    configure(app, sa, t, "microsoft", body).await
}

async fn configure_google(app: &TestApp, sa: &str, t: &SeededTenant, extra: Value) -> Value {
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

// ------------------------------------------------------------------ happy paths

#[tokio::test]
async fn microsoft_provisions_then_signs_in_returning_user() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("contoso").await;
    configure_microsoft(&app, &sa, &t, json!({})).await;

    let (url, state) = start(&app, "microsoft", "contoso").await;
    let req = AuthRequest::parse(&url);
    assert_eq!(req.path, format!("/{TID}/v2.0/authorize"));
    assert_eq!(req.param("client_id"), MS_CLIENT);
    assert_eq!(req.param("redirect_uri"), "http://app.tenantry.test/auth/callback");
    assert_eq!(req.param("state"), state);
    assert_eq!(req.param("code_challenge_method"), "S256");
    assert!(!req.param("nonce").is_empty());

    let claims = idp.entra_claims(TID, "oid-ada", "ada@contoso.test");
    let code = idp.issue_code(&url, claims.clone());
    let r = callback(&app, "microsoft", "contoso", json!({"code": code, "state": state})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["user"]["email"], "ada@contoso.test");
    assert_eq!(r.body["user"]["first_name"], "Ada");
    assert_eq!(r.body["tenant"]["slug"], "contoso");
    let user_id = r.body["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(user_roles(&app, t.id, "ada@contoso.test").await, ["viewer"]);

    // The access token works.
    let access = r.body["access_token"].as_str().unwrap();
    let status = app.get("/api/v1/auth/status", access).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.body["user"]["id"], user_id.as_str());

    // Stored: the identity, the provider tokens (encrypted), the session method,
    // the login history and the audit rows.
    let mut c = app.db.superuser().await;
    let row = sqlx::query(
        "SELECT i.provider, i.issuer, i.subject, u.password_hash IS NULL AS no_password, u.email_verified_at IS NOT NULL AS verified \
         FROM user_identities i JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id WHERE i.tenant_id = $1",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("provider"), "microsoft");
    assert_eq!(row.get::<String, _>("issuer"), idp.entra_issuer(TID));
    assert_eq!(row.get::<String, _>("subject"), "oid-ada");
    assert!(row.get::<bool, _>("no_password") && row.get::<bool, _>("verified"));
    let (access_enc, refresh_enc): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT access_token_enc, refresh_token_enc FROM oauth_tokens WHERE tenant_id = $1")
            .bind(t.id)
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&access_enc).contains("provider-access"));
    assert!(!String::from_utf8_lossy(&refresh_enc).contains("provider-refresh"));
    let ctx = format!("oauth_token:{}:{}", t.id, user_id);
    let opened = app.state.secrets.open_string(&access_enc, ctx.as_bytes()).unwrap();
    assert!(opened.starts_with("provider-access-"));
    let method: String = sqlx::query_scalar("SELECT auth_method FROM user_sessions WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(method, "oauth");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM login_attempts WHERE tenant_id = $1 AND method = 'oauth' AND success",
            t.id
        )
        .await,
        1
    );
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_logs WHERE tenant_id = $1 ORDER BY seq")
        .bind(t.id)
        .fetch_all(&mut c)
        .await
        .unwrap();
    for a in [
        "identity_provider.created",
        "user.created",
        "user.identity_linked",
        "auth.oauth_login",
    ] {
        assert!(actions.iter().any(|x| x == a), "missing {a} in {actions:?}");
    }

    // Returning user: same directory object, even with a new app-specific `sub`.
    let mut again = claims;
    again["sub"] = json!("another-pairwise-sub");
    let r = sign_in(&app, &idp, "microsoft", "contoso", again).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["id"], user_id.as_str());
    assert_eq!(rows(&app, "users", t.id).await, 5);
    assert_eq!(rows(&app, "user_identities", t.id).await, 1);
    assert_eq!(rows(&app, "oauth_tokens", t.id).await, 1);
}

#[tokio::test]
async fn microsoft_links_existing_local_account() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("fabrikam").await;
    configure_microsoft(&app, &sa, &t, json!({"auto_provision_users": false})).await;
    let email = t.email("project_manager").to_string();
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "fabrikam",
        idp.entra_claims(TID, "oid-pm", &email.to_uppercase()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["id"], t.user_id("project_manager").to_string());
    let linked = count(
        &app,
        "SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'user.identity_linked'",
        t.id,
    )
    .await;
    assert_eq!(linked, 1);
    // The password still works too.
    app.token(&email, PASSWORD, Some("fabrikam")).await;
}

#[tokio::test]
async fn google_provisions_links_and_returns() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("initech").await;
    let view = configure_google(&app, &sa, &t, json!({})).await;
    assert_eq!(view["client_id"], Value::Null);
    assert_eq!(view["has_client_secret"], false);

    // New user, through the platform's Google client (tenant row has none).
    let (url, state) = start(&app, "google", "initech").await;
    let req = AuthRequest::parse(&url);
    assert_eq!(req.path, "/google/authorize");
    assert_eq!(req.param("client_id"), GOOGLE_CLIENT);
    assert_eq!(req.param("hd"), "initech.test");
    let code = idp.issue_code(
        &url,
        idp.google_claims("g-100", "peter@initech.test", Some("initech.test")),
    );
    let r = callback(&app, "google", "initech", json!({"code": code, "state": state})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new_id = r.body["user"]["id"].clone();
    assert_eq!(user_roles(&app, t.id, "peter@initech.test").await, ["user"]);

    // Returning.
    let r = sign_in(
        &app,
        &idp,
        "google",
        "initech",
        idp.google_claims("g-100", "peter@initech.test", Some("initech.test")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["id"], new_id);

    // Existing local account with the same verified email → linked.
    let admin = t.email("tenant_admin").to_string();
    let r = sign_in(
        &app,
        &idp,
        "google",
        "initech",
        idp.google_claims("g-200", &admin, Some("initech.test")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["id"], t.user_id("tenant_admin").to_string());
    assert_eq!(rows(&app, "user_identities", t.id).await, 2);
}

#[tokio::test]
async fn rotated_signing_key_is_picked_up_by_refetching_jwks() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("rotate").await;
    configure_microsoft(&app, &sa, &t, json!({})).await;
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "rotate",
        idp.entra_claims(TID, "oid-1", "a@rotate.test"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fetches = idp.jwks_fetches();
    // Cached: a second sign-in fetches nothing.
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "rotate",
        idp.entra_claims(TID, "oid-1", "a@rotate.test"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(idp.jwks_fetches(), fetches);

    idp.rotate_to(test_key(1, "key-2"));
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "rotate",
        idp.entra_claims(TID, "oid-1", "a@rotate.test"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(idp.jwks_fetches(), fetches + 1);
}

// ------------------------------------------------------------------ state

#[tokio::test]
async fn unknown_expired_and_replayed_state_are_refused() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("states").await;
    configure_microsoft(&app, &sa, &t, json!({})).await;
    let claims = idp.entra_claims(TID, "oid-s", "s@states.test");

    // Unknown.
    let (url, _) = start(&app, "microsoft", "states").await;
    let code = idp.issue_code(&url, claims.clone());
    let r = callback(&app, "microsoft", "states", json!({"code": code, "state": "made-up"})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("state"), "{}", r.body);

    // Expired.
    let (url, state) = start(&app, "microsoft", "states").await;
    let mut c = app.db.superuser().await;
    sqlx::query("UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE tenant_id = $1")
        .bind(t.id)
        .execute(&mut c)
        .await
        .unwrap();
    let code = idp.issue_code(&url, claims.clone());
    let r = callback(&app, "microsoft", "states", json!({"code": code, "state": state})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);

    // Replayed: works once, then refused.
    let (url, state) = start(&app, "microsoft", "states").await;
    let code = idp.issue_code(&url, claims.clone());
    let r = callback(&app, "microsoft", "states", json!({"code": code, "state": state})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let code = idp.issue_code(&url, claims);
    let r = callback(&app, "microsoft", "states", json!({"code": code, "state": state})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);

    // Missing fields → 422.
    callback(&app, "microsoft", "states", json!({}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Failures are in the login history.
    let failures = count(
        &app,
        "SELECT count(*) FROM login_attempts WHERE tenant_id = $1 AND method = 'oauth' AND NOT success",
        t.id,
    )
    .await;
    assert!(failures >= 3, "{failures}");
}

#[tokio::test]
async fn state_from_another_tenant_is_refused() {
    let (app, idp, sa) = setup().await;
    let a = app.seed_tenant("tenant-a").await;
    let b = app.seed_tenant("tenant-b").await;
    configure_microsoft(&app, &sa, &a, json!({})).await;
    configure_microsoft(&app, &sa, &b, json!({})).await;
    let (url, state) = start(&app, "microsoft", "tenant-a").await;
    let code = idp.issue_code(&url, idp.entra_claims(TID, "oid-x", "x@tenant-a.test"));
    let r = callback(&app, "microsoft", "tenant-b", json!({"code": code, "state": state})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    assert_eq!(idp.token_requests(), 0, "the code must not even be exchanged");
}

// ------------------------------------------------------------------ ID-token validation

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
async fn wrong_nonce_is_refused() {
    let (app, idp, t) = ms_tenant("nonce").await;
    let mut claims = idp.entra_claims(TID, "o", "n@nonce.test");
    claims["nonce"] = json!("not-the-nonce-we-sent");
    let r = refused(&app, &idp, "nonce", claims, StatusCode::UNAUTHORIZED).await;
    assert!(
        r.body["detail"].as_str().unwrap().to_lowercase().contains("nonce"),
        "{}",
        r.body
    );
    assert_eq!(rows(&app, "users", t.id).await, 4);
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let (app, idp, _) = ms_tenant("audience").await;
    let mut claims = idp.entra_claims(TID, "o", "n@audience.test");
    claims["aud"] = json!("some-other-app");
    let r = refused(&app, &idp, "audience", claims, StatusCode::UNAUTHORIZED).await;
    assert!(r.body["detail"].as_str().unwrap().contains("audience"), "{}", r.body);
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let (app, idp, _) = ms_tenant("issuer").await;
    let mut claims = idp.entra_claims(TID, "o", "n@issuer.test");
    claims["iss"] = json!(idp.entra_issuer(OTHER_TID));
    let r = refused(&app, &idp, "issuer", claims, StatusCode::UNAUTHORIZED).await;
    assert!(r.body["detail"].as_str().unwrap().contains("issuer"), "{}", r.body);
}

#[tokio::test]
async fn expired_id_token_is_refused_but_skew_is_tolerated() {
    let (app, idp, _) = ms_tenant("expiry").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = idp.entra_claims(TID, "o", "n@expiry.test");
    claims["iat"] = json!(now - 3600);
    claims["exp"] = json!(now - 120);
    let r = refused(&app, &idp, "expiry", claims.clone(), StatusCode::UNAUTHORIZED).await;
    assert!(
        r.body["detail"].as_str().unwrap().to_lowercase().contains("expired"),
        "{}",
        r.body
    );
    // 30 s past expiry is within the 60 s skew.
    claims["exp"] = json!(now - 30);
    let r = sign_in(&app, &idp, "microsoft", "expiry", claims).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let (app, idp, _) = ms_tenant("forged").await;
    let (url, state) = start(&app, "microsoft", "forged").await;
    // Another private key presented under the published key id.
    let forged = test_key(2, "key-1");
    let code = idp.issue_code_with(&url, idp.entra_claims(TID, "o", "f@forged.test"), Some(forged), None);
    let r = callback(&app, "microsoft", "forged", json!({"code": code, "state": state})).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_kid_is_refused_after_one_refetch() {
    let (app, idp, _) = ms_tenant("ghost").await;
    let (url, state) = start(&app, "microsoft", "ghost").await;
    let before = idp.jwks_fetches();
    let code = idp.issue_code_with(
        &url,
        idp.entra_claims(TID, "o", "g@ghost.test"),
        Some(test_key(2, "ghost-key")),
        None,
    );
    let r = callback(&app, "microsoft", "ghost", json!({"code": code, "state": state})).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(idp.jwks_fetches(), before + 1, "exactly one refetch of the key set");
}

#[tokio::test]
async fn tid_mismatch_is_refused() {
    let (app, idp, t) = ms_tenant("tidcheck").await;
    let mut claims = idp.entra_claims(TID, "o", "t@tidcheck.test");
    claims["tid"] = json!(OTHER_TID);
    let r = refused(&app, &idp, "tidcheck", claims, StatusCode::UNAUTHORIZED).await;
    assert!(r.body["detail"].as_str().unwrap().contains("tid"), "{}", r.body);
    assert_eq!(rows(&app, "users", t.id).await, 4);
}

// ------------------------------------------------------------------ tenant rules

#[tokio::test]
async fn google_requires_an_allowed_hosted_domain() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("hosted").await;
    configure_google(&app, &sa, &t, json!({})).await;
    let r = sign_in(
        &app,
        &idp,
        "google",
        "hosted",
        idp.google_claims("g1", "x@hosted.test", None),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN);
    assert!(r.body["detail"].as_str().unwrap().contains("hd"), "{}", r.body);
    let r = sign_in(
        &app,
        &idp,
        "google",
        "hosted",
        idp.google_claims("g1", "x@hosted.test", Some("evil.test")),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN);
    assert!(r.body["detail"].as_str().unwrap().contains("evil.test"), "{}", r.body);
    assert_eq!(rows(&app, "users", t.id).await, 4);
}

#[tokio::test]
async fn disallowed_email_domain_is_refused() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("domains").await;
    configure_microsoft(&app, &sa, &t, json!({"allowed_domains": ["domains.test"]})).await;
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "domains",
        idp.entra_claims(TID, "o", "m@gmail.com"),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN);
    assert!(r.body["detail"].as_str().unwrap().contains("gmail.com"), "{}", r.body);
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "domains",
        idp.entra_claims(TID, "o", "m@domains.test"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn unverified_email_is_not_linked() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("unverified").await;
    configure_google(&app, &sa, &t, json!({})).await;
    let mut claims = idp.google_claims("g-evil", t.email("tenant_admin"), Some("unverified.test"));
    claims["email_verified"] = json!(false);
    let r = sign_in(&app, &idp, "google", "unverified", claims).await;
    r.assert_problem(StatusCode::FORBIDDEN);
    assert!(r.body["detail"].as_str().unwrap().contains("verified"), "{}", r.body);
    assert_eq!(rows(&app, "user_identities", t.id).await, 0);
}

#[tokio::test]
async fn without_auto_provisioning_unknown_users_are_refused() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("closed").await;
    configure_microsoft(&app, &sa, &t, json!({"auto_provision_users": false})).await;
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "closed",
        idp.entra_claims(TID, "o", "new@closed.test"),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN);
    assert!(
        r.body["detail"].as_str().unwrap().contains("provisioning"),
        "{}",
        r.body
    );
    assert_eq!(rows(&app, "users", t.id).await, 4);
}

#[tokio::test]
async fn tenant_at_max_users_refuses_provisioning_and_leaves_nothing() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("full").await;
    let mut c = app.db.superuser().await;
    sqlx::query("UPDATE tenants SET max_users = 4 WHERE id = $1")
        .bind(t.id)
        .execute(&mut c)
        .await
        .unwrap();
    configure_microsoft(&app, &sa, &t, json!({})).await;
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "full",
        idp.entra_claims(TID, "o", "fifth@full.test"),
    )
    .await;
    assert!(
        r.status == StatusCode::CONFLICT || r.status == StatusCode::FORBIDDEN,
        "{}",
        r.body
    );
    r.assert_problem(r.status);
    assert!(r.body["detail"].as_str().unwrap().contains("limit"), "{}", r.body);
    assert_eq!(rows(&app, "users", t.id).await, 4);
    assert_eq!(rows(&app, "user_identities", t.id).await, 0);
    assert_eq!(rows(&app, "oauth_tokens", t.id).await, 0);
    // An existing user still signs in (linking needs no seat).
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "full",
        idp.entra_claims(TID, "o2", t.email("viewer")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn deactivated_user_and_inactive_tenant_get_the_login_401() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("inactive").await;
    configure_microsoft(&app, &sa, &t, json!({})).await;
    let mut c = app.db.superuser().await;
    sqlx::query("UPDATE users SET is_active = false WHERE tenant_id = $1 AND id = $2")
        .bind(t.id)
        .bind(t.user_id("user"))
        .execute(&mut c)
        .await
        .unwrap();
    let r = sign_in(
        &app,
        &idp,
        "microsoft",
        "inactive",
        idp.entra_claims(TID, "o", t.email("user")),
    )
    .await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["detail"], "Invalid email or password");

    let (url, state) = start(&app, "microsoft", "inactive").await;
    sqlx::query("UPDATE tenants SET is_active = false WHERE id = $1")
        .bind(t.id)
        .execute(&mut c)
        .await
        .unwrap();
    let code = idp.issue_code(&url, idp.entra_claims(TID, "o9", "n@inactive.test"));
    let r = callback(&app, "microsoft", "inactive", json!({"code": code, "state": state})).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["detail"], "Invalid email or password");
    // And no new sign-in can start.
    app.call(Method::GET, "/api/v1/auth/oauth/microsoft/login/inactive", None, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn disabled_or_missing_provider_and_unknown_tenant_are_404() {
    let (app, _idp, sa) = setup().await;
    let t = app.seed_tenant("disabled").await;
    let view = configure_microsoft(&app, &sa, &t, json!({})).await;
    let path = format!(
        "/api/v1/tenants/{}/identity-providers/{}",
        t.id,
        view["id"].as_str().unwrap()
    );
    let r = app.put(&path, &sa, json!({"is_enabled": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["is_enabled"], false);

    let a = app
        .call(Method::GET, "/api/v1/auth/oauth/microsoft/login/disabled", None, None)
        .await;
    a.assert_problem(StatusCode::NOT_FOUND);
    let b = app
        .call(Method::GET, "/api/v1/auth/oauth/google/login/disabled", None, None)
        .await;
    b.assert_problem(StatusCode::NOT_FOUND);
    let c = app
        .call(
            Method::GET,
            "/api/v1/auth/oauth/microsoft/login/no-such-tenant",
            None,
            None,
        )
        .await;
    c.assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["detail"], c.body["detail"],
        "same shape: existence does not leak"
    );
    app.call(Method::GET, "/api/v1/auth/oauth/github/login/disabled", None, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    callback(&app, "microsoft", "disabled", json!({"code": "c", "state": "s"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn provider_disabled_between_login_and_callback_is_404() {
    let (app, idp, sa) = setup().await;
    let t = app.seed_tenant("switchoff").await;
    let view = configure_microsoft(&app, &sa, &t, json!({})).await;
    let (url, state) = start(&app, "microsoft", "switchoff").await;
    let path = format!(
        "/api/v1/tenants/{}/identity-providers/{}",
        t.id,
        view["id"].as_str().unwrap()
    );
    assert_eq!(
        app.put(&path, &sa, json!({"is_enabled": false})).await.status,
        StatusCode::OK
    );
    let code = idp.issue_code(&url, idp.entra_claims(TID, "o", "n@switchoff.test"));
    callback(&app, "microsoft", "switchoff", json!({"code": code, "state": state}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------------ provider errors

#[tokio::test]
async fn token_endpoint_error_is_a_clear_4xx() {
    let (app, idp, t) = ms_tenant("tokenerr").await;
    let (url, state) = start(&app, "microsoft", "tokenerr").await;
    let code = idp.issue_code_with(
        &url,
        idp.entra_claims(TID, "o", "e@tokenerr.test"),
        None,
        Some(json!({"error": "invalid_grant", "error_description": "AADSTS70008: the code has expired"})),
    );
    let r = callback(&app, "microsoft", "tokenerr", json!({"code": code, "state": state})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("invalid_grant") && detail.contains("AADSTS70008"),
        "{detail}"
    );
    assert_eq!(rows(&app, "users", t.id).await, 4);

    // A code the provider does not know.
    let (_, state) = start(&app, "microsoft", "tokenerr").await;
    let r = callback(&app, "microsoft", "tokenerr", json!({"code": "bogus", "state": state})).await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    let audited = count(
        &app,
        "SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'auth.oauth_login_failed'",
        t.id,
    )
    .await;
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn provider_error_redirect_is_a_clear_4xx_and_burns_the_state() {
    let (app, idp, _) = ms_tenant("denied").await;
    let (url, state) = start(&app, "microsoft", "denied").await;
    let r = callback(
        &app,
        "microsoft",
        "denied",
        json!({"error": "access_denied", "error_description": "The user declined", "state": state}),
    )
    .await;
    r.assert_problem(StatusCode::BAD_REQUEST);
    assert!(
        r.body["detail"].as_str().unwrap().contains("access_denied"),
        "{}",
        r.body
    );
    let code = idp.issue_code(&url, idp.entra_claims(TID, "o", "d@denied.test"));
    callback(&app, "microsoft", "denied", json!({"code": code, "state": state}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unreachable_provider_is_502() {
    // A port nothing listens on.
    let closed = format!("127.0.0.1:{}", free_port());
    let (app, _idp, sa) =
        setup_with(TestConfig::default().set("MICROSOFT_AUTHORITY", format!("http://{closed}"))).await;
    let t = app.seed_tenant("offline").await;
    configure_microsoft(&app, &sa, &t, json!({})).await;
    let r = app
        .call(Method::GET, "/api/v1/auth/oauth/microsoft/login/offline", None, None)
        .await;
    r.assert_problem(StatusCode::BAD_GATEWAY);
    assert!(
        r.body["detail"].as_str().unwrap().contains("could not be reached"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn redirect_uri_must_be_allow_listed() {
    let (app, idp, _) = ms_tenant("redirects").await;
    let r = app
        .call(
            Method::GET,
            "/api/v1/auth/oauth/microsoft/login/redirects?redirect_uri=https://evil.test/cb",
            None,
            None,
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "redirect_uri");

    let r = app
        .call(
            Method::GET,
            "/api/v1/auth/oauth/microsoft/login/redirects?redirect_uri=http%3A%2F%2Fmobile.tenantry.test%2Fcb",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let url = r.body["authorization_url"].as_str().unwrap();
    assert_eq!(
        AuthRequest::parse(url).param("redirect_uri"),
        "http://mobile.tenantry.test/cb"
    );
    let code = idp.issue_code(url, idp.entra_claims(TID, "o", "r@redirects.test"));
    let r = callback(
        &app,
        "microsoft",
        "redirects",
        json!({"code": code, "state": r.body["state"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

// ------------------------------------------------------------------ identity-provider configuration

#[tokio::test]
async fn identity_provider_crud_never_reveals_the_secret() {
    let (app, _idp, sa) = setup().await;
    let t = app.seed_tenant("config").await;
    let base = format!("/api/v1/tenants/{}/identity-providers", t.id);
    let ms = configure_microsoft(
        &app,
        &sa,
        &t,
        json!({"allowed_domains": ["Config.Test", "config.test"]}),
    )
    .await;
    assert_eq!(ms["provider"], "microsoft");
    assert_eq!(ms["has_client_secret"], true);
    assert_eq!(ms["allowed_domains"], json!(["config.test"]));
    assert!(ms.get("client_secret").is_none());
    assert!(!ms.to_string().contains(MS_SECRET));

    // One of each kind.
    let dup = app
        .post(&format!("{base}/microsoft"), &sa, json!({"azure_tenant_id": TID}))
        .await;
    dup.assert_problem(StatusCode::CONFLICT);

    let g = configure_google(
        &app,
        &sa,
        &t,
        json!({"client_id": "own-google", "client_secret": "g-secret-1"}),
    )
    .await;
    let list = app.get(&base, &sa).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["total"], 2);
    assert!(!list.body.to_string().contains("g-secret-1") && !list.body.to_string().contains(MS_SECRET));

    // Update: secret rotated, still hidden; null removes it.
    let gpath = format!("{base}/{}", g["id"].as_str().unwrap());
    let r = app
        .put(
            &gpath,
            &sa,
            json!({"client_secret": "g-secret-2", "auto_provision_users": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["has_client_secret"], true);
    assert_eq!(r.body["auto_provision_users"], false);
    assert_eq!(r.body["client_id"], "own-google");
    let r = app.put(&gpath, &sa, json!({"client_secret": null})).await;
    assert_eq!(r.body["has_client_secret"], false);

    // The secret is sealed with the tenant bound.
    let mut c = app.db.superuser().await;
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT client_secret_enc FROM tenant_identity_providers WHERE tenant_id = $1 AND provider = 'microsoft'",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    let ctx = format!("idp_client_secret:{}", t.id);
    assert_eq!(
        app.state.secrets.open_string(&sealed, ctx.as_bytes()).unwrap(),
        MS_SECRET
    );

    // Audit rows exist and carry no secret.
    let audit: Vec<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('a', action, 'o', old_values, 'n', new_values) FROM audit_logs \
         WHERE tenant_id = $1 AND resource_type = 'identity_provider'",
    )
    .bind(t.id)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(audit.len(), 4, "{audit:?}");
    let all = serde_json::to_string(&audit).unwrap();
    for s in [MS_SECRET, "g-secret-1", "g-secret-2"] {
        assert!(!all.contains(s), "secret in audit: {all}");
    }

    // Delete.
    assert_eq!(app.delete(&gpath, &sa).await.status, StatusCode::NO_CONTENT);
    app.delete(&gpath, &sa).await.assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(app.get(&base, &sa).await.body["total"], 1);
}

#[tokio::test]
async fn identity_provider_validation() {
    let (app, _idp, sa) = setup().await;
    let t = app.seed_tenant("valid").await;
    let other = app.seed_tenant("other").await;
    let base = format!("/api/v1/tenants/{}/identity-providers", t.id);

    let r = app
        .post(
            &format!("{base}/microsoft"),
            &sa,
            json!({"azure_tenant_id": "not-a-guid", "allowed_domains": ["localhost", "ok.test", "bad_domain.com"],
                   "default_role_name": "no-such-role"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "azure_tenant_id",
        "allowed_domains[0]",
        "allowed_domains[2]",
        "default_role_name",
    ] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
    let r = app
        .post(&format!("{base}/microsoft"), &sa, json!({"allowed_domains": []}))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "azure_tenant_id");

    // Unknown tenant → 404; another tenant's provider id → 404.
    app.post(
        &format!("/api/v1/tenants/{}/identity-providers/google", Uuid::new_v4()),
        &sa,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    let g = configure_google(&app, &sa, &other, json!({})).await;
    app.put(
        &format!("{base}/{}", g["id"].as_str().unwrap()),
        &sa,
        json!({"is_enabled": false}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    app.put(
        &format!("{base}/{}", g["id"].as_str().unwrap()),
        &sa,
        json!({"default_role_name": "ghost"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);

    // Tenant admins are not super admins.
    let admin = t.token(&app, "tenant_admin").await;
    app.get(&base, &admin).await.assert_problem(StatusCode::FORBIDDEN);
    app.call(Method::GET, &base, None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
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
