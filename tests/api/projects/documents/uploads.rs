//! Upload round trips on local disk and the declared size, enforced on every
//! path (chunked bodies included) with nothing kept on refusal.

use reqwest::StatusCode;
use serde_json::json;

use crate::{helpers::*, projects::create_project};

use super::{complete, download, initiate, object_path, put_bytes, sha256_hex, storage_used};

/// PUTs `chunks` with `Transfer-Encoding: chunked` (no Content-Length), so the
/// server can only find out the size by counting; returns the status code.
async fn chunked_put(url: &str, chunks: &[&[u8]]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let u = url::Url::parse(url).unwrap();
    let mut s = tokio::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap()))
        .await
        .unwrap();
    let head = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        u.path(),
        u.query().unwrap(),
        u.host_str().unwrap()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for c in chunks {
        s.write_all(format!("{:x}\r\n", c.len()).as_bytes()).await.unwrap();
        s.write_all(c).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn local_upload_round_trip_returns_identical_bytes() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project(&app, &token, "P", "").await;
    let pid = p["id"].as_str().unwrap();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();

    let r = initiate(
        &app,
        &token,
        pid,
        "Résumé \"final\".pdf",
        "application/pdf",
        bytes.len(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["upload_method"], "PUT");
    assert_eq!(r.body["document"]["status"], "pending");
    let url = r.body["upload_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/api/v1/projects/documents/", app.base)),
        "{url}"
    );
    let id = r.body["document"]["id"].as_str().unwrap().to_string();
    let expires = time::OffsetDateTime::parse(
        r.body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ttl = expires - time::OffsetDateTime::now_utc();
    assert!(
        ttl > time::Duration::minutes(14) && ttl <= time::Duration::minutes(15),
        "{ttl}"
    );
    // The quota is reserved at initiation.
    assert_eq!(storage_used(&app, t.id).await, bytes.len() as i64);

    // Downloading before completion is refused; completing before the PUT too.
    app.get(&format!("/api/v1/projects/documents/{id}/download"), &token)
        .await
        .assert_problem(StatusCode::CONFLICT);
    complete(&app, &token, &id, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);

    // No bearer token needed: the signed URL is the credential.
    let put = put_bytes(&app, &url, bytes.clone()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["sha256"], sha256_hex(&bytes));
    assert_eq!(put.body["size_bytes"], bytes.len());

    // A wrong checksum is refused; the right one completes.
    complete(&app, &token, &id, json!({"sha256": "0".repeat(64)}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = complete(&app, &token, &id, json!({"sha256": sha256_hex(&bytes).to_uppercase()})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "uploaded");
    assert_eq!(r.body["sha256"], sha256_hex(&bytes));
    assert_eq!(r.body["size_bytes"], bytes.len());
    complete(&app, &token, &id, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    // The URL cannot overwrite a completed document.
    put_bytes(&app, &url, bytes.clone())
        .await
        .assert_problem(StatusCode::CONFLICT);

    let r = download(&app, &token, &id).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"R_sum_ _final_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);

    // Viewers cannot download (no documents:download).
    let viewer = t.token(&app, "viewer").await;
    app.get(&format!("/api/v1/projects/documents/{id}/download"), &viewer)
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    // Stats see the stored bytes; deleting the project removes rows, bytes and quota.
    let r = app.get("/api/v1/projects/stats", &token).await;
    assert_eq!(r.body["storage"]["used_bytes"], bytes.len());
    assert!(object_path(&app, t.id, &id).exists());
    let pm = t.token(&app, "project_manager").await;
    assert_eq!(
        app.delete(&format!("/api/v1/projects/{pid}"), &pm).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("/api/v1/projects/documents/{id}"), &pm)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    assert!(!object_path(&app, t.id, &id).exists());
    assert_eq!(storage_used(&app, t.id).await, 0);
}

#[tokio::test]
async fn declared_size_is_enforced_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project(&app, &token, "P", "").await;
    let r = initiate(
        &app,
        &token,
        p["id"].as_str().unwrap(),
        "a.bin",
        "application/octet-stream",
        10,
    )
    .await;
    let url = r.body["upload_url"].as_str().unwrap().to_string();
    let id = r.body["document"]["id"].as_str().unwrap().to_string();

    // Too many bytes, announced by Content-Length.
    put_bytes(&app, &url, vec![1u8; 11])
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    // Too many bytes, streamed without a length (chunked).
    assert_eq!(chunked_put(&url, &[&[1u8; 6], &[2u8; 6]]).await, 413);
    // Too few bytes.
    put_bytes(&app, &url, vec![1u8; 9])
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !object_path(&app, t.id, &id).exists(),
        "a rejected upload left bytes behind"
    );
    complete(&app, &token, &id, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);

    // Exactly the declared size is accepted.
    assert_eq!(put_bytes(&app, &url, vec![3u8; 10]).await.status, StatusCode::OK);
    let r = complete(&app, &token, &id, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Sizes outside 1..=MAX_UPLOAD_BYTES are invalid up front.
    let r = initiate(&app, &token, p["id"].as_str().unwrap(), "b", "text/plain", 0).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}
