//! Signed upload URLs: a tampered or expired one is refused with 403.

use reqwest::StatusCode;
use tenantry::storage::signed::UploadGrant;
use uuid::Uuid;

use crate::{helpers::*, projects::create_project};

use super::{initiate, object_path, put_bytes};

#[tokio::test]
async fn tampered_or_expired_upload_urls_are_403() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project(&app, &token, "P", "").await;
    let r = initiate(&app, &token, p["id"].as_str().unwrap(), "a.txt", "text/plain", 5).await;
    let url = r.body["upload_url"].as_str().unwrap().to_string();
    let id: Uuid = r.body["document"]["id"].as_str().unwrap().parse().unwrap();

    let mut sig_flipped = url.clone();
    let last = sig_flipped.pop().unwrap();
    sig_flipped.push(if last == '0' { '1' } else { '0' });
    let bigger = url.replace("size=5", "size=6");
    let other_tenant = url.replace(&t.id.to_string(), &Uuid::new_v4().to_string());
    let later = {
        let (head, tail) = url.split_once("expires=").unwrap();
        let (_, rest) = tail.split_once('&').unwrap();
        format!("{head}expires=9999999999&{rest}")
    };
    for bad in [sig_flipped, bigger, other_tenant, later] {
        let r = put_bytes(&app, &bad, b"hello".to_vec()).await;
        r.assert_problem(StatusCode::FORBIDDEN);
    }
    // A correctly signed but expired URL.
    let grant = UploadGrant {
        tenant: t.id,
        document: id,
        size: 5,
        expires: time::OffsetDateTime::now_utc().unix_timestamp() - 1,
    };
    let sig = app.state.storage.url_signer().sign(&grant);
    let expired = format!(
        "{}/api/v1/projects/documents/{id}/content?tenant={}&size=5&expires={}&sig={sig}",
        app.base, t.id, grant.expires
    );
    let r = put_bytes(&app, &expired, b"hello".to_vec()).await;
    r.assert_problem(StatusCode::FORBIDDEN);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
    assert!(!object_path(&app, t.id, &id.to_string()).exists());

    // The genuine URL still works.
    assert_eq!(put_bytes(&app, &url, b"hello".to_vec()).await.status, StatusCode::OK);
}
