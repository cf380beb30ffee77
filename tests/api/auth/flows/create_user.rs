//! Creating a user with and without a password (a set-password mail then), and
//! the tenant's user limit under concurrency.

use reqwest::StatusCode;
use serde_json::json;

use super::{last_email, post_anon};
use crate::helpers::*;

#[tokio::test]
async fn create_user_with_and_without_password() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;

    let r = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": "New.Person@Acme.test", "first_name": "New",
            "last_name": "Person", "password": "A-Fine-Passphrase-42", "role_names": ["viewer", "user"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["email"], "new.person@acme.test");
    assert_eq!(r.body["roles"], json!(["user", "viewer"]));
    assert_eq!(r.body["is_active"], true);
    assert!(r.body.get("password_hash").is_none());
    app.token("new.person@acme.test", "A-Fine-Passphrase-42", Some("acme"))
        .await;
    let verify = last_email(&app, "new.person@acme.test", "email_verification")
        .await
        .expect("verification mail");
    let token = verify["token"].as_str().unwrap();
    let r = post_anon(&app, "/api/v1/auth/verify-email", json!({"token": token})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    post_anon(&app, "/api/v1/auth/verify-email", json!({"token": token}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);

    // Duplicate, unknown role, weak password, missing permission.
    let dup = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": "NEW.person@acme.test"}),
        )
        .await;
    dup.assert_problem(StatusCode::CONFLICT);
    let r = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": "x@acme.test", "role_names": ["wizard"]}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "role_names");
    let r = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": "y@acme.test", "password": "password1234"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post("/api/v1/auth/create-user", &admin, json!({"email": "not-an-email"}))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let viewer = t.token(&app, "viewer").await;
    app.post("/api/v1/auth/create-user", &viewer, json!({"email": "z@acme.test"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    // Without a password: a welcome email with a set-password link.
    let r = app
        .post(
            "/api/v1/auth/create-user",
            &admin,
            json!({"email": "later@acme.test", "first_name": "Later"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["roles"], json!(["user"]));
    let welcome = last_email(&app, "later@acme.test", "welcome")
        .await
        .expect("welcome mail");
    let token = welcome["token"].as_str().expect("set-password token");
    let r = post_anon(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": "Chosen-By-Later-99"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app.login("later@acme.test", "Chosen-By-Later-99", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body["user"]["email_verified_at"].is_string(),
        "the link proved the mailbox"
    );

    let audit = "SELECT count(*) FROM audit_logs WHERE action = 'user.created' AND tenant_id = $1";
    assert_eq!(crate::auth::count_rows(&app, audit, t.id).await, 2);
}

#[tokio::test]
async fn the_user_limit_holds_under_concurrency() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let mut su = app.db.superuser().await;
    // Four seeded users; room for two more.
    sqlx::query("UPDATE tenants SET max_users = 6 WHERE id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    let admin = t.token(&app, "tenant_admin").await;
    let creates = (0..6).map(|i| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.post(
                "/api/v1/auth/create-user",
                &admin,
                json!({"email": format!("u{i}@acme.test")}),
            )
            .await
        }
    });
    let results = futures::future::join_all(creates).await;
    let created = results.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(
        created,
        2,
        "{:?}",
        results.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_problem(StatusCode::CONFLICT);
        assert!(r.body["detail"].as_str().unwrap().contains("limit"), "{}", r.body);
    }
}
