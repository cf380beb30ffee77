//! Email-token flows (create-user, password reset, email verification,
//! invitations) and TOTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};
use uuid::Uuid;

use crate::helpers::*;

/// The newest queued email of `template` to `to`: its context.
async fn last_email(app: &TestApp, to: &str, template: &str) -> Option<Value> {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar(
        "SELECT context FROM email_outbox WHERE lower(to_email) = lower($1) AND template = $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(to)
    .bind(template)
    .fetch_optional(&mut su)
    .await
    .unwrap()
}

async fn post_anon(app: &TestApp, path: &str, body: Value) -> Resp {
    app.call(Method::POST, path, None, Some(body)).await
}

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

#[tokio::test]
async fn password_reset_tokens_are_single_use_and_expire() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user");
    let session = app.token(email, PASSWORD, None).await;

    // Unknown accounts get the same 202 and no mail.
    let r = post_anon(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": "ghost@acme.test"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(last_email(&app, "ghost@acme.test", "password_reset").await.is_none());

    let r = post_anon(
        &app,
        "/api/v1/auth/password-reset/request",
        json!({"email": email, "tenant_slug": "acme"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let token = last_email(&app, email, "password_reset").await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let weak = post_anon(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": "short"}),
    )
    .await;
    weak.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let body = json!({"token": token, "new_password": "After-The-Reset-2026"});
    let r = post_anon(&app, "/api/v1/auth/password-reset/confirm", body.clone()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    post_anon(&app, "/api/v1/auth/password-reset/confirm", body)
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    app.get("/api/v1/auth/status", &session)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.login(email, PASSWORD, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.token(email, "After-The-Reset-2026", None).await;

    // An expired token is refused.
    post_anon(&app, "/api/v1/auth/password-reset/request", json!({"email": email})).await;
    let token = last_email(&app, email, "password_reset").await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(&mut su)
        .await
        .unwrap();
    let r = post_anon(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": "Too-Late-For-This-1"}),
    )
    .await;
    r.assert_problem(StatusCode::BAD_REQUEST);
}

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

fn code_at(secret_b32: &str, offset_secs: i64) -> String {
    let secret = Secret::try_from_base32(secret_b32).unwrap();
    let totp = Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build_noncompliant();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + offset_secs;
    totp.generate(now as u64).to_string()
}

#[tokio::test]
async fn totp_enrolment_sign_in_recovery_and_disable() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let email = t.email("user");
    let token = app.token(email, PASSWORD, None).await;

    let setup = app
        .call(Method::POST, "/api/v1/auth/mfa/totp/setup", Some(&token), None)
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    assert!(
        setup.body["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let recovery: Vec<String> = setup.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    let mut su = app.db.superuser().await;
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT totp_pending_enc FROM users WHERE id = $1")
        .bind(t.user_id("user"))
        .fetch_one(&mut su)
        .await
        .unwrap();
    let stored = stored.expect("pending seed stored");
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "seed is encrypted at rest"
    );

    let r = app
        .post("/api/v1/auth/mfa/totp/enable", &token, json!({"code": "000000"}))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/api/v1/auth/mfa/totp/enable",
            &token,
            json!({"code": code_at(&secret, 0)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mfa_enabled"], true);

    // Password alone now yields a challenge, not tokens.
    let login = app.login(email, PASSWORD, None).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["mfa_required"], true);
    assert!(login.body.get("access_token").is_none());
    let mfa_token = login.body["mfa_token"].as_str().unwrap().to_string();
    // The MFA token is not an access token.
    app.get("/api/v1/auth/status", &mfa_token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    let verify = |code: String| {
        let (app, mfa_token) = (&app, mfa_token.clone());
        async move {
            post_anon(
                app,
                "/api/v1/auth/mfa/verify",
                json!({"mfa_token": mfa_token, "code": code}),
            )
            .await
        }
    };
    verify("123456".into()).await.assert_problem(StatusCode::UNAUTHORIZED);
    // The next step's code (within the ±1 window) signs in...
    let next = code_at(&secret, 30);
    let r = verify(next.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["access_token"].is_string());
    // ...once: its step is used now.
    verify(next).await.assert_problem(StatusCode::UNAUTHORIZED);
    // A recovery code works once.
    let r = verify(recovery[0].clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let failures = "SELECT failed_login_count::bigint FROM users WHERE id = $1";
    assert_eq!(
        crate::auth::count_rows(&app, failures, t.user_id("user")).await,
        0,
        "success resets failures"
    );
    verify(recovery[0].clone())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);

    // Failures at the MFA step count toward lockout.
    for _ in 0..5 {
        verify("999999".into()).await.assert_problem(StatusCode::UNAUTHORIZED);
    }
    let locked = "SELECT count(*) FROM users WHERE id = $1 AND locked_until > now()";
    assert_eq!(crate::auth::count_rows(&app, locked, t.user_id("user")).await, 1);
    sqlx::query("UPDATE users SET locked_until = NULL, failed_login_count = 0 WHERE id = $1")
        .bind(t.user_id("user"))
        .execute(&mut su)
        .await
        .unwrap();

    // Disable with a recovery code.
    app.post(
        "/api/v1/auth/mfa/totp/disable",
        &token,
        json!({"code": "000000", "current_password": PASSWORD}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/api/v1/auth/mfa/totp/disable",
            &token,
            json!({"code": recovery[1], "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mfa_enabled"], false);
    let r = app.login(email, PASSWORD, None).await;
    assert!(r.body["access_token"].is_string(), "{}", r.body);
    for action in ["user.mfa_enabled", "user.mfa_disabled"] {
        let sql = format!("SELECT count(*) FROM audit_logs WHERE action = '{action}' AND resource_id = $1::text");
        assert_eq!(
            crate::auth::count_rows(&app, &sql, t.user_id("user")).await,
            1,
            "{action}"
        );
    }
}
