//! The super-admin identity-provider configuration API
//! (`/api/v1/tenants/{id}/identity-providers…`): CRUD that never reveals the
//! client secret, and validation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::oauth::{MS_SECRET, TID, configure_google, configure_microsoft, setup};

#[tokio::test]
async fn identity_provider_crud_never_reveals_the_secret() {
    let (app, _idp, sa) = setup().await;
    let t = app.seed_tenant("config").await;
    let base = format!("/api/v1/tenants/{}/identity-providers", t.id);
    let ms = configure_microsoft(
        &app,
        &sa,
        &t,
        json!({"allowed_domains": ["Config.Test", "config.test"]}),
    )
    .await;
    assert_eq!(ms["provider"], "microsoft");
    assert_eq!(ms["has_client_secret"], true);
    assert_eq!(ms["allowed_domains"], json!(["config.test"]));
    assert!(ms.get("client_secret").is_none());
    assert!(!ms.to_string().contains(MS_SECRET));

    // One of each kind.
    let dup = app
        .post(&format!("{base}/microsoft"), &sa, json!({"azure_tenant_id": TID}))
        .await;
    dup.assert_problem(StatusCode::CONFLICT);

    let g = configure_google(
        &app,
        &sa,
        &t,
        json!({"client_id": "own-google", "client_secret": "g-secret-1"}),
    )
    .await;
    let list = app.get(&base, &sa).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["total"], 2);
    assert!(!list.body.to_string().contains("g-secret-1") && !list.body.to_string().contains(MS_SECRET));

    // Update: secret rotated, still hidden; null removes it.
    let gpath = format!("{base}/{}", g["id"].as_str().unwrap());
    let r = app
        .put(
            &gpath,
            &sa,
            json!({"client_secret": "g-secret-2", "auto_provision_users": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["has_client_secret"], true);
    assert_eq!(r.body["auto_provision_users"], false);
    assert_eq!(r.body["client_id"], "own-google");
    let r = app.put(&gpath, &sa, json!({"client_secret": null})).await;
    assert_eq!(r.body["has_client_secret"], false);

    // The secret is sealed with the tenant bound.
    let mut c = app.db.superuser().await;
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT client_secret_enc FROM tenant_identity_providers WHERE tenant_id = $1 AND provider = 'microsoft'",
    )
    .bind(t.id)
    .fetch_one(&mut c)
    .await
    .unwrap();
    let ctx = format!("idp_client_secret:{}", t.id);
    assert_eq!(
        app.state.secrets.open_string(&sealed, ctx.as_bytes()).unwrap(),
        MS_SECRET
    );

    // Audit rows exist and carry no secret.
    let audit: Vec<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('a', action, 'o', old_values, 'n', new_values) FROM audit_logs \
         WHERE tenant_id = $1 AND resource_type = 'identity_provider'",
    )
    .bind(t.id)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(audit.len(), 4, "{audit:?}");
    let all = serde_json::to_string(&audit).unwrap();
    for s in [MS_SECRET, "g-secret-1", "g-secret-2"] {
        assert!(!all.contains(s), "secret in audit: {all}");
    }

    // Delete.
    assert_eq!(app.delete(&gpath, &sa).await.status, StatusCode::NO_CONTENT);
    app.delete(&gpath, &sa).await.assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(app.get(&base, &sa).await.body["total"], 1);
}

#[tokio::test]
async fn identity_provider_validation() {
    let (app, _idp, sa) = setup().await;
    let t = app.seed_tenant("valid").await;
    let other = app.seed_tenant("other").await;
    let base = format!("/api/v1/tenants/{}/identity-providers", t.id);

    let r = app
        .post(
            &format!("{base}/microsoft"),
            &sa,
            json!({"azure_tenant_id": "not-a-guid", "allowed_domains": ["localhost", "ok.test", "bad_domain.com"],
                   "default_role_name": "no-such-role"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "azure_tenant_id",
        "allowed_domains[0]",
        "allowed_domains[2]",
        "default_role_name",
    ] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
    let r = app
        .post(&format!("{base}/microsoft"), &sa, json!({"allowed_domains": []}))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "azure_tenant_id");

    // Unknown tenant → 404; another tenant's provider id → 404.
    app.post(
        &format!("/api/v1/tenants/{}/identity-providers/google", Uuid::new_v4()),
        &sa,
        json!({}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    let g = configure_google(&app, &sa, &other, json!({})).await;
    app.put(
        &format!("{base}/{}", g["id"].as_str().unwrap()),
        &sa,
        json!({"is_enabled": false}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    app.put(
        &format!("{base}/{}", g["id"].as_str().unwrap()),
        &sa,
        json!({"default_role_name": "ghost"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);

    // Tenant admins are not super admins.
    let admin = t.token(&app, "tenant_admin").await;
    app.get(&base, &admin).await.assert_problem(StatusCode::FORBIDDEN);
    app.call(Method::GET, &base, None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}
