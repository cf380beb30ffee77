//! The sign-in flow end to end: Entra and Google users are provisioned, linked
//! to an existing local account, or signed in again; a rotated signing key is
//! picked up; and the `state` parameter is single-use and bound to its tenant.

use super::*;

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
