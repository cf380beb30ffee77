//! Projects and documents in the browser: creating a project, the search page
//! with highlighted (and escaped) hits, an upload through the signed URL with
//! a progress bar, the download giving back the same bytes, and deletion
//! behind a confirmation.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::browser::{Browser, console_app, inline_scripts};
use crate::helpers::*;

async fn document_ids(app: &TestApp, project: Uuid) -> Vec<Uuid> {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar("SELECT id FROM documents WHERE project_id = $1")
        .bind(project)
        .fetch_all(&mut su)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_member_uploads_with_progress_downloads_the_same_bytes_and_deletes() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("project_manager"), PASSWORD).await;
    b.press("Projects").await;
    b.press("New project").await;
    b.fill("Name", "Launch").await;
    b.fill("Description", "Everything for the spring launch.").await;
    b.press("Create project").await;
    assert!(b.text().await.contains("The project is created."), "{}", b.text().await);
    let path = b.path().await;
    let project: Uuid = path
        .trim_start_matches("/projects/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // 3 MiB of varied bytes: several progress events over the loopback.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("launch-plan.bin");
    let bytes: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    b.labelled("File")
        .await
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    b.click("Upload").await;
    b.wait_for("document.getElementById('upload-status').textContent.endsWith('done.')")
        .await;
    let bar: Value = b
        .js("const p = document.getElementById('upload-progress'); \
             return [p.value, p.max, Number(p.dataset.progressEvents || 0)];")
        .await;
    assert_eq!(bar[0], json!(bytes.len()), "{bar}");
    assert_eq!(bar[1], json!(bytes.len()), "{bar}");
    assert!(
        bar[2].as_u64().unwrap() >= 1,
        "the bar moved with upload progress events: {bar}"
    );
    // The document list is redrawn in place with the new document.
    b.wait_for("document.querySelector('#documents table').textContent.includes('launch-plan.bin')")
        .await;
    b.screenshot("project-upload").await;

    let ids = document_ids(&app, project).await;
    assert_eq!(ids.len(), 1);
    let doc = ids[0];
    let mut su = app.db.superuser().await;
    let (status, sha): (String, Option<String>) = sqlx::query_as("SELECT status, sha256 FROM documents WHERE id = $1")
        .bind(doc)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(status, "uploaded");
    assert_eq!(
        sha.unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );

    // The download link, fetched with the person's session: the same bytes.
    let href = b
        .client
        .find(Locator::Css("#documents a[download]"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, format!("/projects/documents/{doc}/download"));
    let res = app
        .client
        .get(app.url(&href))
        .header("cookie", b.session_cookie().await)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("launch-plan.bin")
    );
    assert!(
        res.bytes().await.unwrap() == bytes,
        "downloaded bytes equal the uploaded ones"
    );
    // Without the session: the sign-in page, not the bytes.
    let res = app.client.get(app.url(&href)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // Deleting asks first; nothing changes until confirmed.
    b.go(&format!("/projects/documents/{doc}/delete")).await;
    assert!(b.text().await.contains("Delete this document?"));
    assert_eq!(document_ids(&app, project).await.len(), 1);
    b.press("Yes, delete").await;
    assert!(
        b.text().await.contains("The document is deleted."),
        "{}",
        b.text().await
    );
    assert!(document_ids(&app, project).await.is_empty());
    b.close().await;
}

#[tokio::test]
async fn projects_filter_and_search_shows_escaped_highlighted_hits() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "user").await;
    for (name, description, status) in [
        (
            "Roadmap",
            "The quarterly roadmap <img src=x onerror=\"alert(1)\"> & review",
            "active",
        ),
        ("Archive 2025", "Old material", "archived"),
    ] {
        let r = app
            .post(
                "/api/v1/projects",
                &token,
                json!({"name": name, "description": description, "status": status}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let Some(b) = Browser::open(&app).await else { return };
    b.signs_in(t.email("viewer"), PASSWORD).await;
    b.press("Projects").await;
    assert!(b.text().await.contains("2 projects"), "{}", b.text().await);
    assert!(
        b.client
            .find(Locator::XPath("//a[normalize-space(.)='New project']"))
            .await
            .is_err(),
        "a viewer is not offered project creation"
    );
    b.labelled("Status").await.select_by_value("archived").await.unwrap();
    b.press("Filter").await;
    let text = b.text().await;
    assert!(text.contains("Archive 2025") && !text.contains("Roadmap"), "{text}");

    b.go("/projects/search").await;
    b.fill("Words", "roadmap").await;
    b.press("Find").await;
    let bold = match b.client.find(Locator::Css(".snippet b")).await {
        Ok(e) => e,
        Err(e) => panic!("no highlighted word ({e}): {}", b.text().await),
    };
    assert_eq!(bold.text().await.unwrap().to_lowercase(), "roadmap");
    assert!(
        b.client
            .find_all(Locator::Css(".snippet img"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(inline_scripts(&b).await, 0);
    b.close().await;
}
