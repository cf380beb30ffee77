//! Deactivation: a deactivated user's tokens die and the rows are kept.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn deactivated_users_tokens_die_and_rows_are_kept() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let user_token = t.token(&app, "user").await;
    let pm_token = t.token(&app, "project_manager").await;
    assert_eq!(app.get("/api/v1/users/me", &user_token).await.status, StatusCode::OK);

    // DELETE = deactivate: the access token stops working at once.
    let uid = t.user_id("user");
    assert_eq!(
        app.delete(&format!("/api/v1/users/{uid}"), &admin).await.status,
        StatusCode::NO_CONTENT
    );
    app.get("/api/v1/users/me", &user_token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.login(t.email("user"), PASSWORD, Some(&t.slug))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let r = app.get(&format!("/api/v1/users/{uid}"), &admin).await;
    assert_eq!((r.status, r.body["is_active"].as_bool()), (StatusCode::OK, Some(false)));
    let r = app
        .get(&format!("/api/v1/users/{uid}/sessions?include_inactive=true"), &admin)
        .await;
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["active"] == false && s["revoked_reason"] == "user deactivated")
    );

    // PUT is_active=false does the same; reactivation lets the user sign in again.
    let pm = t.user_id("project_manager");
    let r = app
        .put(
            &format!("/api/v1/users/{pm}"),
            &admin,
            json!({"is_active": false, "last_name": "Gone"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["is_active"].as_bool(), r.body["last_name"].as_str()),
        (Some(false), Some("Gone"))
    );
    app.get("/api/v1/projects", &pm_token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let r = app
        .put(&format!("/api/v1/users/{pm}"), &admin, json!({"is_active": true}))
        .await;
    assert_eq!(r.body["is_active"], true);
    assert_eq!(
        app.login(t.email("project_manager"), PASSWORD, Some(&t.slug))
            .await
            .status,
        StatusCode::OK
    );
    // The old token stays dead: its session was revoked.
    app.get("/api/v1/projects", &pm_token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    // Nobody deactivates or deletes themselves.
    let me = t.user_id("tenant_admin");
    app.delete(&format!("/api/v1/users/{me}"), &admin)
        .await
        .assert_problem(StatusCode::CONFLICT);
    app.put(&format!("/api/v1/users/{me}"), &admin, json!({"is_active": false}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    app.put(&format!("/api/v1/users/{me}"), &admin, json!({"roles": ["viewer"]}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Audited with old and new values.
    let mut su = app.db.superuser().await;
    let (old, new): (serde_json::Value, serde_json::Value) = sqlx::query_as(
        "SELECT old_values, new_values FROM audit_logs WHERE action = 'user.deactivated' AND resource_id = $1",
    )
    .bind(uid.to_string())
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert_eq!(
        (old["is_active"].as_bool(), new["is_active"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(new["sessions_revoked"].as_u64().unwrap() >= 1);
}
