//! Reading many users: the list with its filters and sort, stats and the security view.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn list_filters_by_search_state_and_role_with_sort() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let emails = |r: &Resp| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/api/v1/users?sort=email", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 4);
    assert_eq!(
        emails(&r),
        [
            "project_manager@acme.test",
            "tenant_admin@acme.test",
            "user@acme.test",
            "viewer@acme.test"
        ]
    );
    let r = app.get("/api/v1/users?sort=-email&page_size=1&page=2", &admin).await;
    assert_eq!(emails(&r), ["user@acme.test"]);
    let r = app.get("/api/v1/users?search=MANAGER", &admin).await;
    assert_eq!(emails(&r), ["project_manager@acme.test"]);
    let r = app.get("/api/v1/users?search=viewer%20tester", &admin).await;
    assert_eq!(emails(&r), ["viewer@acme.test"]);
    let r = app.get("/api/v1/users?role=user", &admin).await;
    assert_eq!(emails(&r), ["user@acme.test"]);
    assert_eq!(
        app.delete(&format!("/api/v1/users/{}", t.user_id("viewer")), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = app.get("/api/v1/users?is_active=false", &admin).await;
    assert_eq!(emails(&r), ["viewer@acme.test"]);
    assert_eq!(app.get("/api/v1/users?is_active=true", &admin).await.body["total"], 3);
    // Booleans as Python's requests and others spell them.
    assert_eq!(app.get("/api/v1/users?is_active=False", &admin).await.body["total"], 1);
    assert_eq!(app.get("/api/v1/users?is_active=1", &admin).await.body["total"], 3);
    app.get("/api/v1/users?sort=password_hash", &admin)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/users?is_active=maybe", &admin)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get(&format!("/api/v1/users/{}", Uuid::new_v4()), &admin)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stats_and_security_views() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    t.token(&app, "user").await;
    app.login(t.email("user"), "wrong-password", Some(&t.slug))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    let r = app.get("/api/v1/users/stats", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["total"].as_i64(),
            r.body["active"].as_i64(),
            r.body["inactive"].as_i64()
        ),
        (Some(4), Some(4), Some(0))
    );
    assert_eq!(r.body["by_role"]["viewer"], 1);
    assert!(r.body["sign_ins"]["successful_24h"].as_i64().unwrap() >= 2);
    assert!(r.body["sign_ins"]["failed_24h"].as_i64().unwrap() >= 1);
    let daily = r.body["sign_ins"]["daily"].as_array().unwrap();
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        daily.last().unwrap()["day"],
        today.as_str(),
        "days are YYYY-MM-DD: {}",
        r.body
    );

    let r = app
        .get(&format!("/api/v1/users/{}/security", t.user_id("user")), &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mfa_enabled"], false);
    assert_eq!(r.body["is_locked"], false);
    let logins = r.body["recent_logins"].as_array().unwrap();
    assert!(logins.iter().any(|l| l["success"] == false));
    assert!(
        logins
            .iter()
            .any(|l| l["success"] == true && l["ip_address"] == "127.0.0.1")
    );
    assert_eq!(r.body["active_sessions"].as_array().unwrap().len(), 1);
}
