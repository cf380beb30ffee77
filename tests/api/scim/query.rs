//! `sortBy`/`sortOrder` (RFC 7644 §3.4.2.3) and `attributes`/
//! `excludedAttributes` (§3.4.2.5) on Users and Groups.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{assert_scim_error, scim, scim_token};
use crate::helpers::*;

async fn user(app: &TestApp, token: &str, email: &str, given: &str, family: &str, external: &str) -> String {
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
        "externalId": external, "active": true, "name": {"givenName": given, "familyName": family}});
    let r = scim(app, Method::POST, "/Users", token, Some(body), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// The userNames of a list answer, in order.
async fn user_names(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let filter = "filter=userName%20sw%20%22s-%22";
    let r = scim(app, Method::GET, &format!("/Users?{filter}&{query}"), token, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn users_and_groups_sort_on_fixed_columns_with_case_rules() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = scim_token(&app, &t).await;
    // Created in this order; family names differ only in case order, external ids are case-exact.
    user(&app, &token, "s-b@acme.test", "Bo", "Beta", "B2").await;
    user(&app, &token, "s-c@acme.test", "Cy", "charlie", "C3").await;
    user(&app, &token, "s-a@acme.test", "Al", "alpha", "a1").await;

    assert_eq!(
        user_names(&app, &token, "").await,
        ["s-b@acme.test", "s-c@acme.test", "s-a@acme.test"]
    );
    assert_eq!(
        user_names(&app, &token, "sortBy=userName").await,
        ["s-a@acme.test", "s-b@acme.test", "s-c@acme.test"]
    );
    assert_eq!(
        user_names(&app, &token, "sortBy=userName&sortOrder=descending").await,
        ["s-c@acme.test", "s-b@acme.test", "s-a@acme.test"]
    );
    // caseExact: false → alpha, Beta, charlie (bytewise would put Beta first).
    assert_eq!(
        user_names(&app, &token, "sortBy=name.familyName&sortOrder=Ascending").await,
        ["s-a@acme.test", "s-b@acme.test", "s-c@acme.test"]
    );
    // caseExact: true → B2, C3, a1.
    assert_eq!(
        user_names(&app, &token, "sortBy=externalId").await,
        ["s-b@acme.test", "s-c@acme.test", "s-a@acme.test"]
    );
    assert_eq!(
        user_names(
            &app,
            &token,
            "sortBy=urn:ietf:params:scim:schemas:core:2.0:User:meta.created&sortOrder=descending"
        )
        .await,
        ["s-a@acme.test", "s-c@acme.test", "s-b@acme.test"]
    );
    assert_eq!(
        user_names(&app, &token, "sortBy=displayName&startIndex=2&count=1").await,
        ["s-b@acme.test"],
        "pages follow the sort"
    );

    // What cannot be sorted on is refused, and input never reaches the SQL.
    for bad in [
        "sortBy=groups",
        "sortBy=password",
        "sortBy=userName%3B%20DROP%20TABLE%20users",
        "sortBy=userName%20DESC%2C%20(SELECT%201)",
        "sortBy=userName&sortOrder=sideways",
    ] {
        let r = scim(&app, Method::GET, &format!("/Users?{bad}"), &token, None, None).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    assert_eq!(user_names(&app, &token, "sortBy=userName").await.len(), 3);

    for name in ["beta", "Alpha", "gamma"] {
        let r = scim(
            &app,
            Method::POST,
            "/Groups",
            &token,
            Some(json!({"displayName": name})),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = scim(
        &app,
        Method::GET,
        "/Groups?sortBy=displayName&sortOrder=descending",
        &token,
        None,
        None,
    )
    .await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gamma", "beta", "Alpha"]);
    let r = scim(&app, Method::GET, "/Groups?sortBy=members", &token, None, None).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

#[tokio::test]
async fn attributes_and_excluded_attributes_shape_every_answer() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = scim_token(&app, &t).await;
    let id = user(&app, &token, "s-a@acme.test", "Al", "alpha", "a1").await;

    // On a list: only the named attributes, plus id, schemas and meta.
    let r = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22s-a@acme.test%22&attributes=userName,name.givenName",
        &token,
        None,
        None,
    )
    .await;
    let u = &r.body["Resources"][0];
    assert_eq!(keys(u), ["id", "meta", "name", "schemas", "userName"], "{u}");
    assert_eq!(u["name"], json!({"givenName": "Al"}));
    assert!(u["meta"]["version"].is_string());

    // On one resource: excluded attributes and sub-attributes go, id never does.
    let r = scim(
        &app,
        Method::GET,
        &format!("/Users/{id}?excludedAttributes=emails,name.familyName,groups,id"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.get("emails").is_none() && r.body.get("groups").is_none(),
        "{}",
        r.body
    );
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["name"]["givenName"], "Al");
    assert!(r.body["name"].get("familyName").is_none());
    assert_eq!(r.body["active"], true);

    // On a write's answer.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "s-b@acme.test"});
    let r = scim(
        &app,
        Method::POST,
        "/Users?attributes=userName",
        &token,
        Some(body),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(keys(&r.body), ["id", "meta", "schemas", "userName"]);

    // Groups: members only when asked for, sub-attributes too.
    let r = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(json!({"displayName": "Ops", "members": [{"value": id}]})),
        None,
    )
    .await;
    let gid = r.body["id"].as_str().unwrap().to_string();
    let group = |q: &str| format!("/Groups/{gid}?{q}");
    let r = scim(&app, Method::GET, &group("attributes=displayName"), &token, None, None).await;
    assert_eq!(keys(&r.body), ["displayName", "id", "meta", "schemas"]);
    let r = scim(
        &app,
        Method::GET,
        &group("attributes=members.value"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(r.body["members"], json!([{"value": id}]));
    assert!(r.body.get("displayName").is_none());
    let r = scim(
        &app,
        Method::GET,
        &group("excludedAttributes=members"),
        &token,
        None,
        None,
    )
    .await;
    assert!(r.body.get("members").is_none() && r.body["displayName"] == "Ops");
    let r = scim(&app, Method::GET, "/Groups?attributes=displayName", &token, None, None).await;
    assert_eq!(keys(&r.body["Resources"][0]), ["displayName", "id", "meta", "schemas"]);
}
