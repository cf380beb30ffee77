//! The provider failing: token-endpoint errors, error redirects, an unreachable
//! provider and redirect URIs outside the allow-list are clear 4xx/502s.

use super::*;

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
    let (app, _idp, sa) =
        setup_with(TestConfig::default().set("MICROSOFT_AUTHORITY", format!("http://{CLOSED_ADDR}"))).await;
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
