//! SCIM 2.0 provisioning: tokens, discovery, users and groups, replaying the
//! request sequences Microsoft Entra ID and Okta document.

mod groups;
mod query;
mod tokens;
mod users;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// A new SCIM token of `t`, made by its tenant admin.
pub async fn scim_token(app: &TestApp, t: &SeededTenant) -> String {
    let admin = t.token(app, "tenant_admin").await;
    let r = app.post("/api/v1/scim/tokens", &admin, json!({"name": "entra"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["token"].as_str().unwrap().to_string()
}

/// A SCIM request as identity providers send it (`application/scim+json`).
pub async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Resp {
    let mut req = app
        .client
        .request(method, app.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.header("content-type", "application/scim+json").body(b.to_string());
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    Resp::from(req.send().await.unwrap()).await
}

/// Asserts an RFC 7644 §3.12 error with this status and `scimType`.
pub fn assert_scim_error(r: &Resp, status: StatusCode, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"), "{}", r.body);
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{}",
        r.body
    );
    assert_eq!(r.body["status"], status.as_u16().to_string(), "{}", r.body);
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{}", r.body);
}

/// Entra's first call for a new user.
pub fn entra_user(email: &str, external_id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": external_id,
        "userName": email,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Maths"}
    })
}

/// Creates a user through SCIM and answers its id.
pub async fn create_user(app: &TestApp, token: &str, email: &str) -> String {
    let r = scim(app, Method::POST, "/Users", token, Some(entra_user(email, email)), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}
