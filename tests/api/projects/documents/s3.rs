//! The same round trip on an S3-compatible server (moto, when installed).

use reqwest::StatusCode;
use serde_json::json;
use tenantry::storage::Storage;

use crate::{helpers::*, projects::create_project};

use super::{complete, download, initiate, put_bytes, sha256_hex};

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
