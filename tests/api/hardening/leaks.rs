//! Smaller leaks: a unique violation on an unmapped constraint answers a generic
//! 409 (the constraint's name stays in the log); the public `/health/detailed`
//! shows status and latency only, never the email provider's error text; every
//! document download leaves a `document.downloaded` row in the tenant's audit chain.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::{
    email::{EmailTemplate, drain_once},
    jobs::email_outbox,
};

use crate::{
    email::{queue, tenant},
    hardening::headers::{download, upload},
    helpers::{TestApp, TestConfig},
    projects::create_project,
};

#[tokio::test]
async fn an_unmapped_unique_violation_does_not_name_the_constraint() {
    let app = TestApp::spawn().await;
    // A constraint the error mapping does not know (as a future migration may add).
    sqlx::query("CREATE UNIQUE INDEX internal_project_name_guard ON projects (tenant_id, lower(name))")
        .execute(&mut app.db.superuser().await)
        .await
        .unwrap();
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    create_project(&app, &token, "Apollo", "").await;
    let r = app.post("/api/v1/projects", &token, json!({"name": "apollo"})).await;
    r.assert_problem(StatusCode::CONFLICT);
    assert_eq!(r.body["detail"], "Resource already exists");
    assert!(
        !r.body.to_string().contains("internal_project_name_guard"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn the_public_health_check_shows_no_error_text() {
    // SMTP on a port nobody listens on: the send fails with a transport error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("EMAIL_PROVIDER", "smtp")
            .set("SMTP_HOST", "127.0.0.1")
            .set("SMTP_PORT", port)
            .set("SMTP_TLS", "none"),
    )
    .await;
    let t = tenant(&app, "Acme").await;
    queue(
        &app,
        t,
        "ada@example.com",
        EmailTemplate::EmailVerification,
        json!({"token": "v"}),
    )
    .await;
    drain_once(&email_outbox(&app.state.db), &app.state.email)
        .await
        .unwrap();

    // A super admin sees the failure and its text…
    let admin = app.super_admin_token().await;
    let full = app.get("/health/detailed", &admin).await.body;
    let error_text = full["checks"]["email"]["last_failure"]
        .as_str()
        .expect("the failure is kept")
        .to_string();
    assert_eq!(full["checks"]["email"]["status"], "degraded", "{full}");

    // …anyone else, status, latency and the active provider only.
    let public = app.public_json("/health/detailed").await;
    let email = &public["checks"]["email"];
    assert_eq!(email["status"], "degraded", "{public}");
    assert!(email["latency_ms"].is_number(), "{public}");
    for (name, check) in public["checks"].as_object().unwrap() {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["status", "latency_ms", "provider"].contains(&k.as_str())),
            "{name}: {check}"
        );
    }
    assert!(!public.to_string().contains(&error_text), "{public}");
    // A tenant user's token is no key to the details either.
    let acme = app.seed_tenant("acme").await;
    let user = acme.token(&app, "tenant_admin").await;
    let r = app.get("/health/detailed", &user).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["checks"]["email"].get("last_failure").is_none(), "{}", r.body);
}

/// The `document.downloaded` rows of document `id` in `tenant`'s chain.
async fn download_rows(app: &TestApp, tenant: uuid::Uuid, id: &str) -> Vec<(Option<uuid::Uuid>, Value)> {
    sqlx::query_as(
        "SELECT actor_id, new_values FROM audit_logs \
         WHERE tenant_id = $1 AND action = 'document.downloaded' AND resource_type = 'document' \
           AND resource_id = $2 ORDER BY seq",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(&mut app.db.superuser().await)
    .await
    .unwrap()
}

async fn chain_is_valid(app: &TestApp, tenant: uuid::Uuid) {
    let admin = app.super_admin_token().await;
    let r = app
        .get(&format!("/api/v1/admin/audit/verify?tenant_id={tenant}"), &admin)
        .await;
    assert_eq!(
        (r.status, &r.body["valid"]),
        (StatusCode::OK, &json!(true)),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn downloading_the_bytes_is_audited() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let id = upload(&app, &token, "report.pdf", "application/pdf", b"%PDF-1.7 test").await;
    for _ in 0..2 {
        assert_eq!(download(&app, &token, &id).await.status(), StatusCode::OK);
    }
    let rows = download_rows(&app, t.id, &id).await;
    assert_eq!(rows.len(), 2, "one row per download");
    assert_eq!(rows[0].0, Some(t.user_id("user")));
    assert_eq!(rows[0].1["via"], "bytes");
    assert_eq!(rows[0].1["name"], "report.pdf");
    chain_is_valid(&app, t.id).await;
    // A refused download (no documents:download) is not a download.
    let viewer = t.token(&app, "viewer").await;
    assert_eq!(download(&app, &viewer, &id).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(download_rows(&app, t.id, &id).await.len(), 2);
}

#[tokio::test]
async fn issuing_a_signed_download_url_is_audited() {
    // S3 signing needs no network: an unreachable endpoint is enough to issue URLs.
    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("STORAGE_BACKEND", "s3")
            .set("S3_BUCKET", "docs")
            .set("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .set("AWS_REGION", "us-east-1")
            .set("AWS_ACCESS_KEY_ID", "testing")
            .set("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    .await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let project = create_project(&app, &token, "P", "").await;
    let r = app
        .post(
            &format!("/api/v1/projects/{}/documents", project["id"].as_str().unwrap()),
            &token,
            json!({"name": "plan.txt", "content_type": "text/plain"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    // As if the upload had completed (the bytes would sit in S3).
    sqlx::query(
        "UPDATE documents SET status = 'uploaded', size_bytes = 4, uploaded_at = now(), \
         storage_key = 'tenants/' || tenant_id || '/documents/' || id WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&mut app.db.superuser().await)
    .await
    .unwrap();

    let r = download(&app, &token, &id).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(r.headers()["location"].to_str().unwrap().contains("X-Amz-Signature"));
    let rows = download_rows(&app, t.id, &id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0, &rows[0].1["via"]),
        (Some(t.user_id("user")), &json!("signed_url"))
    );
    chain_is_valid(&app, t.id).await;
}
