//! The tenant's rules on a verified identity: hosted and email domains, verified
//! email before linking, auto-provisioning and the user limit, inactive users and
//! tenants, and disabled or missing providers.

use super::*;

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
