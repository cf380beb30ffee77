//! Accepting an invitation creates the user and signs them in.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::post_anon;
use crate::helpers::*;

#[tokio::test]
async fn accepting_an_invitation_creates_the_user_and_signs_in() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = tenantry::crypto::random_token();
    let mut su = app.db.superuser().await;
    sqlx::query(
        "INSERT INTO invitations (tenant_id, id, email, role_names, token_hash, expires_at) \
         VALUES ($1, $2, 'invited@acme.test', '{project_manager}', $3, now() + interval '7 days')",
    )
    .bind(t.id)
    .bind(Uuid::new_v4())
    .bind(tenantry::crypto::token_hash(&token))
    .execute(&mut su)
    .await
    .unwrap();
    let body = json!({"token": token, "password": "Invited-And-Happy-1", "first_name": "Ina"});
    let r = post_anon(&app, "/api/v1/auth/accept-invitation", body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user"]["email"], "invited@acme.test");
    assert_eq!(r.body["user"]["first_name"], "Ina");
    let access = r.body["access_token"].as_str().unwrap();
    let status = app.get("/api/v1/auth/status", access).await;
    assert!(
        status.body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("projects:delete")),
        "{}",
        status.body
    );
    post_anon(&app, "/api/v1/auth/accept-invitation", body)
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    let r = post_anon(
        &app,
        "/api/v1/auth/accept-invitation",
        json!({"token": "nope", "password": "Invited-And-Happy-1"}),
    )
    .await;
    r.assert_problem(StatusCode::BAD_REQUEST);
}
