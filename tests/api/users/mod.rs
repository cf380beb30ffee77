//! Users: the caller's profile, listing with filters, updates and deactivation
//! (tokens die), sessions, invitations, bulk create and bulk actions, stats and
//! the security view.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn me_reads_and_updates_own_names() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "viewer").await;
    let r = app.get("/api/v1/users/me", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["email"], t.email("viewer"));
    assert_eq!(r.body["roles"], json!(["viewer"]));
    assert_eq!(r.body["email_verified"], true);
    assert!(r.body.get("password_hash").is_none());
    let r = app
        .put("/api/v1/users/me", &token, json!({"first_name": "  Vera "}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["first_name"].as_str(), r.body["last_name"].as_str()),
        (Some("Vera"), Some("Tester"))
    );
    app.put("/api/v1/users/me", &token, json!({"is_active": false}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.put("/api/v1/users/me", &token, json!({"last_name": "x".repeat(101)}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Viewers hold no users:read.
    app.get("/api/v1/users", &token)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

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

#[tokio::test]
async fn sessions_are_listed_and_terminated() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    let first = t.token(&app, "user").await;
    let second = t.token(&app, "user").await;
    let uid = t.user_id("user");
    let r = app.get(&format!("/api/v1/users/{uid}/sessions"), &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["items"][0]["active"], true);
    // project_manager has users:read but not users:update.
    let pm = t.token(&app, "project_manager").await;
    assert_eq!(
        app.get(&format!("/api/v1/users/{uid}/sessions"), &pm).await.status,
        StatusCode::OK
    );
    app.delete(&format!("/api/v1/users/{uid}/sessions"), &pm)
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    assert_eq!(
        app.delete(&format!("/api/v1/users/{uid}/sessions"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    for token in [&first, &second] {
        app.get("/api/v1/users/me", token)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.get(&format!("/api/v1/users/{uid}/sessions"), &admin).await.body["total"],
        0
    );
    // The account itself still works.
    assert_eq!(
        app.login(t.email("user"), PASSWORD, Some(&t.slug)).await.status,
        StatusCode::OK
    );
}

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
