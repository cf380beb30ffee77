//! `/scim/v2/Users`: Entra's documented sequence, uniqueness, ETags,
//! deactivation through the account code, the seat limit and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;

#[tokio::test]
async fn entra_sequence_create_filter_patch_false_delete() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = scim_token(&app, &t).await;

    // Entra first looks the user up, then creates it.
    let filter = "/Users?filter=userName%20eq%20%22Ada%40Acme.test%22";
    let r = scim(&app, Method::GET, filter, &token, None, None).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    let r = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(entra_user("Ada@Acme.test", "ext-1")),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["userName"], "ada@acme.test");
    assert_eq!(r.body["externalId"], "ext-1");
    assert_eq!(r.body["name"]["givenName"], "Ada");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(
        r.body["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    let version = r.body["meta"]["version"].as_str().unwrap().to_string();
    assert!(version.starts_with("W/\""), "{version}");
    assert_eq!(r.header("etag"), Some(version.as_str()));

    // The filter finds it (case-insensitive), the user got the default role and no mail.
    let r = scim(&app, Method::GET, filter, &token, None, None).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    let admin = t.token(&app, "tenant_admin").await;
    let u = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    assert_eq!(u.body["roles"], json!(["user"]), "{}", u.body);
    let mut c = app.db.superuser().await;
    let mails: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE lower(to_email) = 'ada@acme.test'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(mails, 0);

    // The user signs in (a session) and Entra disables it with its quirks.
    sqlx::query("INSERT INTO user_sessions (tenant_id, id, user_id, expires_at) VALUES ($1, gen_random_uuid(), $2::uuid, now() + interval '1 hour')")
        .bind(t.id)
        .bind(&id)
        .execute(&mut c)
        .await
        .unwrap();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let r = scim(&app, Method::PATCH, &format!("/Users/{id}"), &token, Some(patch), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM user_sessions WHERE user_id = $1::uuid AND revoked_at IS NULL")
            .bind(&id)
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(live, 0, "deactivation revokes sessions");

    // Reactivation (no path, value object), then a name change by filtered path.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": true}},
                       {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada.l@acme.test"},
                       {"op": "Add", "path": "name.familyName", "value": "Byron"}]});
    let r = scim(&app, Method::PATCH, &format!("/Users/{id}"), &token, Some(patch), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["familyName"], "Byron");

    // Delete: 404 to SCIM afterwards, the row and the audit trail stay.
    let r = scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = scim(&app, Method::GET, &format!("/Users/{id}"), &token, None, None).await;
    assert_scim_error(&r, StatusCode::NOT_FOUND, None);
    let u = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    assert_eq!(u.body["is_active"], false, "{}", u.body);
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor_principal FROM audit_logs WHERE resource_id = $1 AND actor_principal IS NOT NULL",
    )
    .bind(&id)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(
        actors.len() >= 4 && actors.iter().all(|a| a == "scim:entra"),
        "{actors:?}"
    );
}

#[tokio::test]
async fn uniqueness_if_match_bad_filters_and_seat_limit() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = scim_token(&app, &t).await;
    let id = create_user(&app, &token, "bob@acme.test").await;
    let r = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(entra_user("BOB@acme.test", "x")),
        None,
    )
    .await;
    assert_scim_error(&r, StatusCode::CONFLICT, Some("uniqueness"));
    // Existing (non-SCIM) users count too.
    let r = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(entra_user(t.email("viewer"), "y")),
        None,
    )
    .await;
    assert_scim_error(&r, StatusCode::CONFLICT, Some("uniqueness"));

    let body = entra_user("bob@acme.test", "x");
    let r = scim(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        &token,
        Some(body.clone()),
        Some("W/\"999\""),
    )
    .await;
    assert_scim_error(&r, StatusCode::PRECONDITION_FAILED, None);
    let current = scim(&app, Method::GET, &format!("/Users/{id}"), &token, None, None).await;
    let tag = current.body["meta"]["version"].as_str().unwrap().to_string();
    let r = scim(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        &token,
        Some(body),
        Some(&tag),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(r.body["meta"]["version"].as_str().unwrap(), tag);

    for f in ["password_hash%20eq%20%22x%22", "userName%20eq", "(((userName%20pr"] {
        let r = scim(&app, Method::GET, &format!("/Users?filter={f}"), &token, None, None).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    }
    let r = scim(&app, Method::POST, "/Users", &token, Some(json!("not json{")), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(json!({"Operations": [{"op": "jump"}]})),
        None,
    )
    .await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"));

    // Paging.
    let r = scim(&app, Method::GET, "/Users?startIndex=2&count=2", &token, None, None).await;
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["totalResults"], 5, "{}", r.body);

    // The tenant's seat limit.
    let mut c = app.db.superuser().await;
    sqlx::query("UPDATE tenants SET max_users = 5 WHERE id = $1")
        .bind(t.id)
        .execute(&mut c)
        .await
        .unwrap();
    let r = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(entra_user("carol@acme.test", "c")),
        None,
    )
    .await;
    assert_scim_error(&r, StatusCode::CONFLICT, None);
    assert!(r.body["detail"].as_str().unwrap().contains("limit"), "{}", r.body);
}

#[tokio::test]
async fn last_admin_is_kept_and_tenants_are_isolated() {
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("acme").await;
    let b = app.seed_tenant("beta").await;
    let token_a = scim_token(&app, &a).await;
    let token_b = scim_token(&app, &b).await;
    let admin = a.user_id("tenant_admin");
    let r = scim(&app, Method::DELETE, &format!("/Users/{admin}"), &token_a, None, None).await;
    assert_scim_error(&r, StatusCode::CONFLICT, None);

    let in_a = create_user(&app, &token_a, "only-a@acme.test").await;
    for (m, body) in [
        (Method::GET, None),
        (Method::PUT, Some(entra_user("x@beta.test", "x"))),
        (
            Method::PATCH,
            Some(json!({"Operations": [{"op": "replace", "value": {"active": false}}]})),
        ),
        (Method::DELETE, None),
    ] {
        let r = scim(&app, m, &format!("/Users/{in_a}"), &token_b, body, None).await;
        assert_scim_error(&r, StatusCode::NOT_FOUND, None);
    }
    let r = scim(&app, Method::GET, "/Users?count=100", &token_b, None, None).await;
    assert!(!r.body.to_string().contains("acme.test"), "{}", r.body);
    let r = scim(&app, Method::GET, &format!("/Users/{in_a}"), &token_a, None, None).await;
    assert_eq!(r.body["active"], true);
}
