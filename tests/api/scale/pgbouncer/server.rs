//! A `tenantry serve` behind PgBouncer keeps tenants apart.

use reqwest::StatusCode;

use super::PgBouncer;
use crate::{
    helpers::*,
    scale::{Instance, login},
};

/// The real server through PgBouncer: two tenants signed in concurrently see
/// only their own users, and another tenant's user is a 404.
#[tokio::test]
async fn server_behind_pgbouncer_keeps_tenants_apart() {
    let app = TestApp::spawn().await;
    let Some(bouncer) = PgBouncer::start(&app.db).await else {
        return;
    };
    // sqlx names its prepared statements (`sqlx_s_N`) even with the statement
    // cache off; PgBouncer < 1.21 leaves them on the server connection for other
    // clients ("prepared statement sqlx_s_1 already exists"). There the server
    // runs in its transaction-pooler mode (statement cache off in DATABASE_URL:
    // each transaction deallocates what earlier ones left, no session state),
    // against the alias without connect_query.
    let url = if bouncer.prepared_statements {
        bouncer.url("tenantry")
    } else {
        format!("{}?statement-cache-capacity=0", bouncer.url("tenantry_plain"))
    };
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    let env = Instance::env(&url, &[]);
    // Migrations take a session-level advisory lock: never through a transaction
    // pooler (the database is already migrated; production runs `migrate` directly).
    let server = Instance::start("via-pgbouncer", &env, &["serve", "--no-migrate"]).await;
    let client = reqwest::Client::new();

    let token_a = login(&client, &server.base, a.email("tenant_admin"), &a.slug).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let token_b = login(&client, &server.base, b.email("tenant_admin"), &b.slug).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut tasks = Vec::new();
    for i in 0..24 {
        let (client, base) = (client.clone(), server.base.clone());
        let (token, own, other_user, domain) = if i % 2 == 0 {
            (token_a.clone(), a.slug.clone(), b.user_id("viewer"), "@alpha.test")
        } else {
            (token_b.clone(), b.slug.clone(), a.user_id("viewer"), "@bravo.test")
        };
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let list = client
                    .get(format!("{base}/api/v1/users?page_size=100"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(list.status(), StatusCode::OK, "{own}");
                let body: serde_json::Value = list.json().await.unwrap();
                let emails: Vec<&str> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["email"].as_str().unwrap())
                    .collect();
                assert_eq!(emails.len(), 4, "{own} sees {emails:?}");
                assert!(
                    emails.iter().all(|e| e.ends_with(domain)),
                    "{own} sees another tenant: {emails:?}"
                );
                let r = client
                    .get(format!("{base}/api/v1/users/{other_user}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::NOT_FOUND, "{own} reached another tenant's user");
                let ready = client.get(format!("{base}/ready")).send().await.unwrap();
                assert_eq!(ready.status(), StatusCode::OK, "/ready through pgbouncer");
            }
        }));
    }
    for t in tasks {
        t.await
            .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}\npgbouncer log:\n{}", server.log(), bouncer.log()));
    }
}
