//! Invitations: a new one replaces the old token; members cannot be invited.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

async fn invitation_mails(su: &mut sqlx::PgConnection) -> Vec<(String, serde_json::Value)> {
    sqlx::query_as("SELECT to_email, context FROM email_outbox WHERE template = 'invitation' ORDER BY created_at")
        .fetch_all(su)
        .await
        .unwrap()
}

#[tokio::test]
async fn invitations_replace_old_tokens_and_refuse_members() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let r = app
        .post(
            "/api/v1/users/invite",
            &admin,
            json!({"email": "New.Person@Example.com", "role_names": ["viewer"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["email"], "new.person@example.com");
    assert_eq!(r.body["role_names"], json!(["viewer"]));
    let first_id = r.body["id"].clone();
    let expires = time::OffsetDateTime::parse(
        r.body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(expires - time::OffsetDateTime::now_utc() > time::Duration::days(6));

    let mut su = app.db.superuser().await;
    let mails = invitation_mails(&mut su).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "new.person@example.com");
    let first_token = mails[0].1["token"].as_str().unwrap().to_string();

    // Re-inviting replaces the open invitation: one row, new token, old token dead.
    let r = app
        .post(
            "/api/v1/users/invite",
            &admin,
            json!({"email": "new.person@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_ne!(r.body["id"], first_id);
    assert_eq!(r.body["role_names"], json!(["user"]));
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM invitations WHERE tenant_id = $1 AND accepted_at IS NULL")
        .bind(t.id)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(open, 1);
    let mails = invitation_mails(&mut su).await;
    let second_token = mails[1].1["token"].as_str().unwrap().to_string();
    let accept = |token: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/api/v1/auth/accept-invitation",
                None,
                Some(json!({"token": token, "password": "An0ther-Good-Passphrase!", "first_name": "New"})),
            )
            .await
        }
    };
    assert!(accept(first_token).await.status.is_client_error());
    let r = accept(second_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Members cannot be invited; bad input is 422.
    app.post(
        "/api/v1/users/invite",
        &admin,
        json!({"email": t.email("viewer").to_uppercase()}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    app.post(
        "/api/v1/users/invite",
        &admin,
        json!({"email": "new.person@example.com"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    app.post("/api/v1/users/invite", &admin, json!({"email": "not-an-email"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/api/v1/users/invite",
        &admin,
        json!({"email": "x@example.com", "role_names": ["wizard"]}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Full tenant (4 seeded + the accepted invitee = 5): no more invitations.
    sqlx::query("UPDATE tenants SET max_users = 5 WHERE id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    app.post("/api/v1/users/invite", &admin, json!({"email": "z@example.com"}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    let pm = t.token(&app, "project_manager").await;
    app.post("/api/v1/users/invite", &pm, json!({"email": "y@example.com"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}
