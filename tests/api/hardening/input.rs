//! Input hardening of user management: one name rule on every path that writes
//! a person's name (no CR/LF or other control characters, 422 with field
//! errors), and bulk actions that apply each id once.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

const FORGED: &str = "Eve\r\nBcc: victim@example.com";

#[tokio::test]
async fn create_user_refuses_control_characters_in_names() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let r = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": "eve@acme.test", "first_name": FORGED, "last_name": "Tab\there",
                   "password": "Minted-Account-Pass-1"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["first_name", "last_name"], "{}", r.body);
    // Surrounding blanks are trimmed, not refused.
    let ok = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": "eve@acme.test", "first_name": " Eve ", "last_name": "Adams"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(ok.body["first_name"], "Eve");
}

#[tokio::test]
async fn bulk_create_reports_control_characters_per_row() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let r = app
        .post(
            "/api/v1/users/bulk/create",
            &admin,
            json!({"users": [
                {"email": "a@acme.test", "first_name": "Ann"},
                {"email": "b@acme.test", "first_name": "Bob", "last_name": "X\nY"},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["created"].as_array().unwrap().len(), 1, "{}", r.body);
    let err = &r.body["errors"][0];
    assert_eq!(
        (err["index"].as_u64(), err["status"].as_u64()),
        (Some(1), Some(422)),
        "{}",
        r.body
    );
    assert_eq!(err["errors"][0]["field"], "last_name");
}

#[tokio::test]
async fn accept_invitation_refuses_control_characters_in_names() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let r = app
        .post("/api/v1/users/invite", &admin, json!({"email": "ina@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token: String = sqlx::query_scalar(
        "SELECT context->>'token' FROM email_outbox WHERE template = 'invitation' AND to_email = 'ina@example.com'",
    )
    .fetch_one(&mut app.db.superuser().await)
    .await
    .unwrap();
    let accept = |first: &str| json!({"token": token, "password": "Invited-And-Happy-1", "first_name": first, "last_name": "Ok"});
    let path = "/api/v1/auth/accept-invitation";
    let r = app.call(Method::POST, path, None, Some(accept(FORGED))).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "first_name", "{}", r.body);
    // The refused attempt did not use up the invitation.
    let r = app.call(Method::POST, path, None, Some(accept("Ina"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["first_name"], "Ina");
}

#[tokio::test]
async fn update_user_and_me_share_the_name_rule() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let viewer = t.user_id("viewer");
    for (path, token) in [
        (format!("/api/v1/users/{viewer}"), &admin),
        ("/api/v1/users/me".to_string(), &admin),
    ] {
        let r = app.put(&path, token, json!({"last_name": FORGED})).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["errors"][0]["field"], "last_name");
    }
}

#[tokio::test]
async fn bulk_actions_apply_each_id_once_whatever_the_order() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let (a, b): (Uuid, Uuid) = (t.user_id("user"), t.user_id("viewer"));
    let r = app
        .post(
            "/api/v1/users/bulk/action",
            &admin,
            json!({"user_ids": [a, b, a, b, a], "action": "terminate_sessions"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ids: Vec<&str> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.to_string(), b.to_string()], "{}", r.body);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'user.sessions_terminated'",
    )
    .bind(t.id)
    .fetch_one(&mut app.db.superuser().await)
    .await
    .unwrap();
    assert_eq!(audited, 2, "one audit row per user");
}
