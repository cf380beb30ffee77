//! The tenant's storage quota: reserved on initiate, released on delete, and
//! expired uploads swept.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::{helpers::*, projects::create_project};

use super::{initiate, object_path, put_bytes, storage_used, upload_local};

#[tokio::test]
async fn storage_quota_is_reserved_released_and_swept() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE tenants SET max_storage_bytes = 100 WHERE id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    let token = t.token(&app, "project_manager").await;
    let p = create_project(&app, &token, "P", "").await;
    let pid = p["id"].as_str().unwrap();

    // Parallel initiations cannot overshoot the quota.
    let attempts = (0..6).map(|i| {
        let (app, token) = (&app, token.clone());
        async move { initiate(app, &token, pid, &format!("f{i}"), "text/plain", 30).await }
    });
    let results = futures::future::join_all(attempts).await;
    let ok: Vec<&Resp> = results.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(ok.len(), 3);
    for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_problem(StatusCode::CONFLICT);
        assert!(r.body["detail"].as_str().unwrap().contains("Storage limit"));
    }
    assert_eq!(storage_used(&app, t.id).await, 90);

    // Deleting a pending document releases its reservation.
    let first = ok[0].body["document"]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/projects/documents/{first}"), &token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(storage_used(&app, t.id).await, 60);

    // One upload is written but never completed; both remaining expire and are swept.
    let second_url = ok[1].body["upload_url"].as_str().unwrap();
    assert_eq!(put_bytes(&app, second_url, vec![0u8; 30]).await.status, StatusCode::OK);
    let second = ok[1].body["document"]["id"].as_str().unwrap().to_string();
    assert!(object_path(&app, t.id, &second).exists());
    sqlx::query("UPDATE documents SET upload_expires_at = now() - interval '1 minute' WHERE tenant_id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    let removed = tenantry::projects::cleanup_expired_uploads(&app.state, &tenantry::jobs::maintenance(&app.state.db))
        .await
        .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(storage_used(&app, t.id).await, 0);
    assert!(!object_path(&app, t.id, &second).exists());
    assert_eq!(app.get("/api/v1/projects/documents", &token).await.body["total"], 0);
    let r = app
        .get("/api/v1/projects/activity?resource_type=document", &token)
        .await;
    assert_eq!(r.body["items"][0]["action"], "document.upload_expired");
    assert_eq!(
        tenantry::projects::cleanup_expired_uploads(&app.state, &tenantry::jobs::maintenance(&app.state.db))
            .await
            .unwrap(),
        0
    );

    // Any deletion path releases the reservation (here: a raw DELETE, as maintenance does).
    let r = initiate(&app, &token, pid, "raw", "text/plain", 40).await;
    assert_eq!(storage_used(&app, t.id).await, 40);
    sqlx::query("DELETE FROM documents WHERE id = $1")
        .bind(Uuid::parse_str(r.body["document"]["id"].as_str().unwrap()).unwrap())
        .execute(&mut su)
        .await
        .unwrap();
    assert_eq!(storage_used(&app, t.id).await, 0);

    // Tenant deletion helper removes every object under the tenant's prefix.
    let doc = upload_local(&app, &token, pid, "keep", b"abc").await;
    assert!(object_path(&app, t.id, doc["id"].as_str().unwrap()).exists());
    assert_eq!(
        tenantry::storage::delete_tenant_objects(&app.state.storage, t.id)
            .await
            .unwrap(),
        1
    );
    assert!(!object_path(&app, t.id, doc["id"].as_str().unwrap()).exists());
}
