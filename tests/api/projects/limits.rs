//! The tenant's project limit, held under concurrent creates.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn project_limit_holds_under_concurrency() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let mut su = app.db.superuser().await;
    sqlx::query("UPDATE tenants SET max_projects = 5 WHERE id = $1")
        .bind(t.id)
        .execute(&mut su)
        .await
        .unwrap();
    let token = t.token(&app, "project_manager").await;

    let attempts = (0..20).map(|i| {
        let (app, token) = (&app, token.clone());
        async move {
            app.post("/api/v1/projects", &token, json!({"name": format!("P{i}")}))
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(
        created,
        5,
        "statuses: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_problem(StatusCode::CONFLICT);
        assert!(
            r.body["detail"].as_str().unwrap().contains("Project limit"),
            "{}",
            r.body
        );
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(n, 5);
}
