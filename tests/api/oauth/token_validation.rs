//! ID-token validation: every claim or signature the provider gets wrong is
//! refused with a clear problem and no session.

use super::*;

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
