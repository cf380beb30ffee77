//! Bulk create and bulk actions, reported per row.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn bulk_create_reports_bad_rows_and_creates_the_rest() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let r = app
        .post(
            "/api/v1/users/bulk/create",
            &admin,
            json!({"users": [
                {"email": "ann@acme.test", "first_name": "Ann", "last_name": "A"},
                {"email": "not-an-email", "first_name": "Bad"},
                {"email": t.email("viewer"), "first_name": "Dup"},
                {"email": "cid@acme.test", "role_names": ["wizard"]},
                {"email": "dee@acme.test", "password": "Dee-Strong-Passphrase-42", "role_names": ["viewer", "user"]},
                {"email": "eve@acme.test", "password": "short"},
                {"first_name": "No email"},
                {"email": "ann@acme.test", "first_name": "Ann again"},
                42
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 9);
    let created: Vec<(u64, &str)> = r.body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["index"].as_u64().unwrap(), c["user"]["email"].as_str().unwrap()))
        .collect();
    assert_eq!(created, [(0, "ann@acme.test"), (4, "dee@acme.test")]);
    assert_eq!(r.body["created"][1]["user"]["roles"], json!(["user", "viewer"]));
    let errors: Vec<(u64, u64)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [(1, 422), (2, 409), (3, 422), (5, 422), (6, 422), (7, 409), (8, 422)]
    );
    for e in r.body["errors"].as_array().unwrap() {
        assert!(!e["detail"].as_str().unwrap().is_empty());
    }

    // The good rows exist, can sign in (with a password) and got welcome mail.
    assert_eq!(app.get("/api/v1/users", &admin).await.body["total"], 6);
    assert_eq!(
        app.login("dee@acme.test", "Dee-Strong-Passphrase-42", Some(&t.slug))
            .await
            .status,
        StatusCode::OK
    );
    let mut su = app.db.superuser().await;
    let welcomes: Vec<String> =
        sqlx::query_scalar("SELECT to_email FROM email_outbox WHERE template = 'welcome' ORDER BY to_email")
            .fetch_all(&mut su)
            .await
            .unwrap();
    assert_eq!(welcomes, ["ann@acme.test", "dee@acme.test"]);

    // Limits: the batch stops creating at max_users, per row.
    sqlx::query("UPDATE tenants SET max_users = 7 WHERE id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    let r = app
        .post(
            "/api/v1/users/bulk/create",
            &admin,
            json!({"users": [{"email": "f@acme.test"}, {"email": "g@acme.test"}]}),
        )
        .await;
    assert_eq!(r.body["created"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["errors"][0]["index"], 1);
    assert_eq!(r.body["errors"][0]["status"], 409);

    // Batch size bounds.
    app.post("/api/v1/users/bulk/create", &admin, json!({"users": []}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let too_many: Vec<_> = (0..501).map(|i| json!({"email": format!("u{i}@acme.test")})).collect();
    app.post("/api/v1/users/bulk/create", &admin, json!({"users": too_many}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn bulk_actions_report_per_row() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let viewer_token = t.token(&app, "viewer").await;
    let (user, viewer, me, ghost) = (
        t.user_id("user"),
        t.user_id("viewer"),
        t.user_id("tenant_admin"),
        Uuid::new_v4(),
    );

    let r = app
        .post(
            "/api/v1/users/bulk/action",
            &admin,
            json!({"user_ids": [user, viewer, me, ghost], "action": "deactivate"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let statuses: Vec<u64> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 409, 404]);
    assert_eq!(
        (r.body["succeeded"].as_u64(), r.body["failed"].as_u64()),
        (Some(2), Some(2))
    );
    app.get("/api/v1/users/me", &viewer_token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/users?is_active=false", &admin).await.body["total"], 2);

    let r = app
        .post(
            "/api/v1/users/bulk/action",
            &admin,
            json!({"user_ids": [user, viewer], "action": "activate"}),
        )
        .await;
    assert_eq!(r.body["succeeded"], 2);
    assert_eq!(app.get("/api/v1/users?is_active=false", &admin).await.body["total"], 0);

    // Unlock clears a lock and the failure counter; terminate_sessions revokes.
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE users SET locked_until = now() + interval '1 hour', failed_login_count = 5 WHERE id = $1")
        .bind(user)
        .execute(&mut su)
        .await
        .unwrap();
    let r = app.get(&format!("/api/v1/users/{user}/security"), &admin).await;
    assert_eq!(
        (r.body["is_locked"].as_bool(), r.body["failed_login_count"].as_i64()),
        (Some(true), Some(5))
    );
    let r = app
        .post(
            "/api/v1/users/bulk/action",
            &admin,
            json!({"user_ids": [user], "action": "unlock"}),
        )
        .await;
    assert_eq!(r.body["results"][0]["success"], true);
    let r = app.get(&format!("/api/v1/users/{user}/security"), &admin).await;
    assert_eq!(
        (r.body["is_locked"].as_bool(), r.body["failed_login_count"].as_i64()),
        (Some(false), Some(0))
    );
    assert_eq!(r.body["recent_events"][0]["event_type"], "account.unlocked");

    let user_token = t.token(&app, "user").await;
    let r = app
        .post(
            "/api/v1/users/bulk/action",
            &admin,
            json!({"user_ids": [user], "action": "terminate_sessions"}),
        )
        .await;
    assert_eq!(r.body["results"][0]["success"], true);
    app.get("/api/v1/users/me", &user_token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    app.post(
        "/api/v1/users/bulk/action",
        &admin,
        json!({"user_ids": [user], "action": "explode"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/api/v1/users/bulk/action",
        &admin,
        json!({"user_ids": [], "action": "unlock"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}
