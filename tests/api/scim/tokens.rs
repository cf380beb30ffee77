//! SCIM tokens: shown once, stored hashed, listed with last use, revoked at
//! once; the SCIM front door refuses anything else with a SCIM 401; discovery.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;

#[tokio::test]
async fn tokens_are_shown_once_listed_and_revoked_at_once() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let created = app.post("/api/v1/scim/tokens", &admin, json!({"name": "okta"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("scim_") && token.len() > 40, "{token}");
    let id = created.body["id"].as_str().unwrap().to_string();

    // Only the hash is stored.
    let mut c = app.db.superuser().await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM scim_tokens")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_ne!(stored, token.as_bytes());

    let r = scim(&app, Method::GET, "/Users", &token, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = app.get("/api/v1/scim/tokens", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body[0]["name"], "okta");
    assert!(list.body[0]["last_used_at"].is_string(), "{}", list.body);
    assert!(list.body[0].get("token").is_none() && list.body[0].get("token_hash").is_none());

    assert_eq!(
        app.delete(&format!("/api/v1/scim/tokens/{id}"), &admin).await.status,
        StatusCode::NO_CONTENT
    );
    let r = scim(&app, Method::GET, "/Users", &token, None, None).await;
    assert_scim_error(&r, StatusCode::UNAUTHORIZED, None);
    assert_eq!(app.get("/api/v1/scim/tokens", &admin).await.body, json!([]));
}

#[tokio::test]
async fn bad_expired_and_foreign_credentials_are_401() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let user_jwt = t.token(&app, "tenant_admin").await;
    for bearer in ["", "scim_nope", user_jwt.as_str()] {
        let r = scim(&app, Method::GET, "/Users", bearer, None, None).await;
        assert_scim_error(&r, StatusCode::UNAUTHORIZED, None);
    }
    // Only tenant:manage issues tokens.
    let pm = t.token(&app, "project_manager").await;
    let r = app.post("/api/v1/scim/tokens", &pm, json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let token = scim_token(&app, &t).await;
    let mut c = app.db.superuser().await;
    sqlx::query("UPDATE scim_tokens SET expires_at = now() - interval '1 second'")
        .execute(&mut c)
        .await
        .unwrap();
    let r = scim(&app, Method::GET, "/Users", &token, None, None).await;
    assert_scim_error(&r, StatusCode::UNAUTHORIZED, None);

    // A deactivated tenant's tokens stop working too.
    let token = scim_token(&app, &t).await;
    sqlx::query("UPDATE tenants SET is_active = false WHERE id = $1")
        .bind(t.id)
        .execute(&mut c)
        .await
        .unwrap();
    let r = scim(&app, Method::GET, "/Users", &token, None, None).await;
    assert_scim_error(&r, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn discovery_answers_what_is_supported() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = scim_token(&app, &t).await;
    let r = scim(&app, Method::GET, "/ServiceProviderConfig", &token, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["filter"]["supported"], true);
    assert!(r.body["filter"]["maxResults"].as_i64().unwrap() > 0);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["sort"]["supported"], true);
    assert_eq!(r.body["changePassword"]["supported"], false);
    let r = scim(&app, Method::GET, "/ResourceTypes", &token, None, None).await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["User", "Group"]);
    let r = scim(&app, Method::GET, "/Schemas", &token, None, None).await;
    assert_eq!(r.body["totalResults"], 2);
    let r = scim(
        &app,
        Method::GET,
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(r.body["name"], "User");
}
