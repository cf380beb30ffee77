//! Documents and their bytes: metadata CRUD, upload round trips on local disk and
//! on an S3-compatible server (moto), signed-URL tampering and expiry, declared
//! size enforcement, the storage quota, deletion and the expired-upload sweep.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tenantry::storage::{Storage, signed::UploadGrant};
use uuid::Uuid;

use crate::{helpers::*, projects::create_project};

/// Initiates an upload; returns the ticket.
async fn initiate(app: &TestApp, token: &str, project: &str, name: &str, ct: &str, size: usize) -> Resp {
    app.post(
        "/api/v1/projects/documents/upload",
        token,
        json!({"project_id": project, "name": name, "content_type": ct, "size_bytes": size}),
    )
    .await
}

async fn put_bytes(app: &TestApp, url: &str, bytes: Vec<u8>) -> Resp {
    let r = app
        .client
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

/// Completes the upload of document `id`.
async fn complete(app: &TestApp, token: &str, id: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/projects/documents/{id}/upload-complete"), token, body)
        .await
}

/// The raw download response (bytes, or a redirect to the object store).
async fn download(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/projects/documents/{id}/download")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Full local upload (initiate, PUT, complete); returns the document.
pub async fn upload_local(app: &TestApp, token: &str, project: &str, name: &str, bytes: &[u8]) -> Value {
    let r = initiate(app, token, project, name, "application/octet-stream", bytes.len()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let put = put_bytes(app, r.body["upload_url"].as_str().unwrap(), bytes.to_vec()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let id = r.body["document"]["id"].as_str().unwrap();
    let done = complete(app, token, id, json!({})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    done.body
}

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

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn storage_used(app: &TestApp, tenant: Uuid) -> i64 {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar("SELECT storage_used_bytes FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(&mut su)
        .await
        .unwrap()
}

fn object_path(app: &TestApp, tenant: Uuid, doc: &str) -> std::path::PathBuf {
    app.storage_dir.path().join(format!("tenants/{tenant}/documents/{doc}"))
}

#[tokio::test]
async fn document_metadata_crud_with_if_match() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project(&app, &token, "P", "").await;
    let pid = p["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/projects/{pid}/documents"),
            &token,
            json!({"name": "Spec", "description": "v1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["content_type"].as_str()),
        (Some("draft"), Some("application/octet-stream"))
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    let path = format!("/api/v1/projects/documents/{}", r.body["id"].as_str().unwrap());

    let stale = |etag: &'static str, body: Value| {
        let (app, token, path) = (&app, token.clone(), path.clone());
        async move {
            Resp::from(
                app.client
                    .put(app.url(&path))
                    .bearer_auth(token)
                    .header("If-Match", etag)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = stale("\"1\"", json!({"description": "v2", "content_type": "text/markdown"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    stale("\"1\"", json!({"description": "lost update"}))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED);
    stale("\"2\"", json!({"content_type": "not a type"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    let r = app
        .get(
            &format!("/api/v1/projects/documents?project_id={pid}&search=spe"),
            &token,
        )
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["description"], "v2");
    app.get("/api/v1/projects/documents?sort=storage_key", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        &format!("/api/v1/projects/{}/documents", Uuid::new_v4()),
        &token,
        json!({"name": "x"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);

    // `user` may not delete documents; a project manager may.
    app.delete(&path, &token).await.assert_problem(StatusCode::FORBIDDEN);
    let pm = t.token(&app, "project_manager").await;
    assert_eq!(app.delete(&path, &pm).await.status, StatusCode::NO_CONTENT);
    app.get(&path, &pm).await.assert_problem(StatusCode::NOT_FOUND);
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

/// A moto S3 server on a free port, stopped on drop.
struct Moto {
    child: tokio::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_moto() -> Option<Moto> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = tokio::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..150 {
        if client.get(format!("{}/moto-api/", moto.endpoint)).send().await.is_ok() {
            return Some(moto);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn s3_upload_round_trip_on_moto() {
    let Some(moto) = start_moto().await else {
        eprintln!("\n!!!!! SKIPPED s3_upload_round_trip_on_moto: `moto_server` could not be started !!!!!\n");
        return;
    };
    let bucket = "tenantry-docs";
    let r = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "creating the bucket: {}", r.status());

    let app = TestApp::spawn_with(
        TestConfig::default()
            .set("STORAGE_BACKEND", "s3")
            .set("S3_BUCKET", bucket)
            .set("AWS_ENDPOINT_URL", &moto.endpoint)
            .set("AWS_REGION", "us-east-1")
            .set("AWS_ACCESS_KEY_ID", "testing")
            .set("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    .await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    let p = create_project(&app, &token, "P", "").await;
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let health = app.get("/health/detailed", &app.super_admin_token().await).await.body;
    assert_eq!(health["checks"]["storage"]["status"], "ok", "{health}");
    assert_eq!(health["checks"]["storage"]["backend"], "s3");

    let r = initiate(
        &app,
        &token,
        p["id"].as_str().unwrap(),
        "data.bin",
        "application/octet-stream",
        bytes.len(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let url = r.body["upload_url"].as_str().unwrap();
    assert!(
        url.starts_with(&moto.endpoint) && url.contains("X-Amz-Signature"),
        "{url}"
    );
    let id = r.body["document"]["id"].as_str().unwrap().to_string();
    let key = Storage::document_key(t.id, id.parse().unwrap());
    // S3 cannot bound a presigned PUT's size, so completion checks it: a wrong
    // size is refused and the object discarded; the upload may be retried.
    let short = put_bytes(&app, url, bytes[..100].to_vec()).await;
    assert!(short.status.is_success());
    complete(&app, &token, &id, json!({}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.state.storage.size(&key).await.unwrap(), None);
    let put = put_bytes(&app, url, bytes.clone()).await;
    assert!(put.status.is_success(), "presigned PUT: {}", put.status);

    let r = complete(&app, &token, &id, json!({"sha256": sha256_hex(&bytes)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "uploaded");

    let r = download(&app, &token, &id).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&moto.endpoint), "{location}");
    let got = reqwest::get(&location).await.unwrap();
    assert!(got.status().is_success());
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);

    // The object is stored under the tenant's prefix; deleting the document removes it.
    assert_eq!(app.state.storage.size(&key).await.unwrap(), Some(bytes.len() as u64));
    let pm = t.token(&app, "project_manager").await;
    assert_eq!(
        app.delete(&format!("/api/v1/projects/documents/{id}"), &pm)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.state.storage.size(&key).await.unwrap(), None);
}
