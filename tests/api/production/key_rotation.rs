//! Key rotation on a running database, without downtime and without loss.
//!
//! Three generations of servers share one database: the first with the old
//! keys; the second with new keys and the old ones as SECRET_KEY_PREVIOUS /
//! ENCRYPTION_KEYS_PREVIOUS; then `tenantry rotate-keys` (the real binary)
//! re-seals everything; the third has only the new keys. Through all of them:
//! IdP sign-in with a client secret sealed under the old key, TOTP sign-in with
//! a seed sealed under the old key, stored provider tokens, and sessions and
//! access tokens issued before the change.

use std::{collections::HashMap, net::SocketAddr, process::Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::{app::AppState, config::Config, crypto::SecretBox, db::Db};
use totp_rs::{Builder, Secret};

use crate::{
    helpers::*,
    oauth::idp::TestIdp,
    oauth::{TID, configure_microsoft, setup_with},
    projects::create_project,
};

const OLD_SECRET: &str = "old-secret-key-0123456789abcdef0123456789";
const NEW_SECRET: &str = "new-secret-key-0123456789abcdef0123456789";
pub(crate) const OLD_ENCRYPTION: &str = "old-encryption-key-0123456789abcdef012345";
pub(crate) const NEW_ENCRYPTION: &str = "new-encryption-key-0123456789abcdef012345";

/// Old keys (generation 1).
pub(crate) fn old_keys() -> Vec<(&'static str, String)> {
    vec![
        ("SECRET_KEY", OLD_SECRET.into()),
        ("ENCRYPTION_KEY", OLD_ENCRYPTION.into()),
        ("ENCRYPTION_KEY_ID", "k1".into()),
    ]
}

/// New keys, with the old ones still accepted (generation 2).
pub(crate) fn rotating_keys() -> Vec<(&'static str, String)> {
    let mut keys = new_keys();
    keys.push(("SECRET_KEY_PREVIOUS", OLD_SECRET.into()));
    keys.push(("ENCRYPTION_KEYS_PREVIOUS", format!("k1:{OLD_ENCRYPTION}")));
    keys
}

/// Only the new keys (generation 3).
fn new_keys() -> Vec<(&'static str, String)> {
    vec![
        ("SECRET_KEY", NEW_SECRET.into()),
        ("ENCRYPTION_KEY", NEW_ENCRYPTION.into()),
        ("ENCRYPTION_KEY_ID", "k2".into()),
    ]
}

/// Another server over the first one's database and storage, with `keys`.
struct Peer {
    base: String,
    state: AppState,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Peer {
    async fn start(app: &TestApp, idp: &TestIdp, keys: &[(&str, String)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut vars: HashMap<String, String> = [
            ("ENVIRONMENT", "test"),
            ("EMAIL_PROVIDER", "log"),
            ("EMAIL_WORKER", "false"),
            ("FRONTEND_URL", "http://app.tenantry.test"),
            ("RATE_LIMIT_LOGIN_PER_MINUTE", "10000"),
            ("RATE_LIMIT_ACCOUNT_PER_MINUTE", "10000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.insert("DATABASE_URL".into(), app.db.url.clone());
        vars.insert("BASE_URL".into(), base.clone());
        vars.insert("STORAGE_PATH".into(), app.storage_dir.path().display().to_string());
        vars.insert("MICROSOFT_AUTHORITY".into(), idp.base.clone());
        vars.extend(keys.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let config = Config::from_map(vars).unwrap();
        let state = AppState::new(config, Db::connect(&app.db.url, 5).await.unwrap())
            .await
            .unwrap();
        let router = tenantry::router::router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        Peer {
            base,
            state,
            client: app.client.clone(),
            server,
        }
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    async fn status(&self, access_token: &str) -> StatusCode {
        self.call(Method::GET, "/api/v1/auth/status", Some(access_token), None)
            .await
            .status
    }

    async fn refresh(&self, refresh_token: &str) -> Resp {
        let r = self
            .call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": refresh_token})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "refresh: {}", r.body);
        r
    }

    /// A whole Microsoft sign-in of `oid` in `slug`; the provider checks the client secret.
    async fn idp_sign_in(&self, idp: &TestIdp, slug: &str, oid: &str) -> Resp {
        let start = self
            .call(
                Method::GET,
                &format!("/api/v1/auth/oauth/microsoft/login/{slug}"),
                None,
                None,
            )
            .await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        let url = start.body["authorization_url"].as_str().unwrap();
        let code = idp.issue_code(url, idp.entra_claims(TID, oid, &format!("{oid}@{slug}.test")));
        let body = json!({"code": code, "state": start.body["state"]});
        let r = self
            .call(
                Method::POST,
                &format!("/api/v1/auth/oauth/microsoft/callback/{slug}"),
                None,
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "IdP sign-in: {}", r.body);
        r
    }

    /// Password then TOTP code; the replay guard is reset first (not under test).
    async fn totp_sign_in(&self, app: &TestApp, email: &str, seed: &str) -> Resp {
        sqlx::query("UPDATE users SET totp_last_step = NULL WHERE lower(email) = lower($1)")
            .bind(email)
            .execute(&mut app.db.superuser().await)
            .await
            .unwrap();
        let login = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(login.body["mfa_required"], true, "{}", login.body);
        let body = json!({"mfa_token": login.body["mfa_token"], "code": totp_now(seed)});
        let r = self
            .call(Method::POST, "/api/v1/auth/mfa/verify", None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "TOTP sign-in: {}", r.body);
        r
    }
}

fn totp_now(seed_b32: &str) -> String {
    let secret = Secret::try_from_base32(seed_b32).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build_noncompliant()
        .generate(now)
        .to_string()
}

/// The `kid` in a JWT's header.
fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Every sealed value in the database, opened with `secrets`: (table, key id, plaintext).
async fn sealed_values(app: &TestApp, secrets: &SecretBox) -> Vec<(String, String, Vec<u8>)> {
    let mut c = app.db.superuser().await;
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT 'tenant_identity_providers', client_secret_enc, convert_to('idp_client_secret:' || tenant_id, 'UTF8') \
           FROM tenant_identity_providers WHERE client_secret_enc IS NOT NULL \
         UNION ALL SELECT 'oauth_tokens', v, convert_to('oauth_token:' || tenant_id || ':' || user_id, 'UTF8') \
           FROM oauth_tokens, unnest(ARRAY[access_token_enc, refresh_token_enc]) v WHERE v IS NOT NULL \
         UNION ALL SELECT 'users', totp_secret_enc, convert_to('totp:' || tenant_id || ':' || id, 'UTF8') \
           FROM users WHERE totp_secret_enc IS NOT NULL",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out: Vec<(String, String, Vec<u8>)> = rows
        .into_iter()
        .map(|(table, sealed, ctx)| {
            let id = SecretBox::key_id_of(&sealed).unwrap().to_string();
            let plain = secrets.open(&sealed, &ctx).unwrap_or_else(|e| panic!("{table}: {e}"));
            (table, id, plain)
        })
        .collect();
    out.sort();
    out
}

/// Runs the real `tenantry rotate-keys` with `keys`; returns stdout.
pub(crate) async fn rotate_keys(app: &TestApp, keys: &[(&str, String)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["rotate-keys", "--batch-size", "1"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ENVIRONMENT", "test")
        .env("DATABASE_URL", &app.db.url)
        .envs(keys.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "rotate-keys failed:\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("rotate-keys: users"),
        "a progress line per table:\n{stderr}"
    );
    stdout.into_owned()
}

#[tokio::test]
async fn both_keys_rotate_on_a_running_database_and_nothing_is_lost() {
    // ------------------------------------------------ generation 1: old keys
    let mut extra = TestConfig::default();
    for (k, v) in old_keys() {
        extra = extra.set(k, v);
    }
    let (app, idp, sa) = setup_with(extra).await;
    let t = app.seed_tenant("contoso").await;
    configure_microsoft(&app, &sa, &t, json!({})).await;
    let old = Peer::start(&app, &idp, &old_keys()).await;
    // Provider tokens of ada, sealed under k1.
    old.idp_sign_in(&idp, "contoso", "ada").await;
    // A TOTP seed sealed under k1.
    let totp_email = t.email("user");
    let token = t.token(&app, "user").await;
    let setup = app
        .call(Method::POST, "/api/v1/auth/mfa/totp/setup", Some(&token), None)
        .await;
    let seed = setup.body["secret"].as_str().unwrap().to_string();
    let enable = app
        .post("/api/v1/auth/mfa/totp/enable", &token, json!({"code": totp_now(&seed)}))
        .await;
    assert_eq!(enable.status, StatusCode::OK, "{}", enable.body);
    // Sessions and an access token from before the change.
    let before = app.login(t.email("tenant_admin"), PASSWORD, None).await;
    let old_access = before.body["access_token"].as_str().unwrap().to_string();
    let old_refresh = before.body["refresh_token"].as_str().unwrap().to_string();
    let untouched_refresh = app.login(t.email("viewer"), PASSWORD, None).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(kid(&old_access), tenantry::auth::jwt::key_id(OLD_SECRET));
    // An upload URL signed with the old SECRET_KEY.
    let project = create_project(&app, &old_access, "Rotation", "").await;
    let ticket = app
        .post(
            "/api/v1/projects/documents/upload",
            &old_access,
            json!({"project_id": project["id"], "name": "a.bin", "content_type": "application/octet-stream", "size_bytes": 3}),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let upload_path = ticket.body["upload_url"].as_str().unwrap().replacen(&app.base, "", 1);

    let originals = sealed_values(&app, &old.state.secrets).await;
    let tables: Vec<(&str, &str)> = originals.iter().map(|(t, k, _)| (t.as_str(), k.as_str())).collect();
    assert_eq!(
        tables,
        [
            ("oauth_tokens", "k1"),
            ("oauth_tokens", "k1"),
            ("tenant_identity_providers", "k1"),
            ("users", "k1")
        ]
    );
    drop(old);

    // ------------------------------------ generation 2: new keys + previous
    let rotating = Peer::start(&app, &idp, &rotating_keys()).await;
    assert_eq!(
        rotating.status(&old_access).await,
        StatusCode::OK,
        "old access token still verifies"
    );
    let refreshed = rotating.refresh(&old_refresh).await;
    let new_access = refreshed.body["access_token"].as_str().unwrap().to_string();
    let new_refresh = refreshed.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(kid(&new_access), tenantry::auth::jwt::key_id(NEW_SECRET));
    assert_eq!(rotating.status(&new_access).await, StatusCode::OK);
    rotating.idp_sign_in(&idp, "contoso", "grace").await;
    rotating.totp_sign_in(&app, totp_email, &seed).await;
    let put = rotating
        .client
        .put(format!("{}{upload_path}", rotating.base))
        .header("content-type", "application/octet-stream")
        .body(b"abc".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.status(),
        StatusCode::OK,
        "an upload URL signed with the old key still works"
    );
    // Grace's provider tokens are already sealed under k2; everything opens.
    assert_eq!(sealed_values(&app, &rotating.state.secrets).await.len(), 6);

    // --------------------------------------------------- rotate-keys, twice
    let report = rotate_keys(&app, &rotating_keys()).await;
    for line in [
        "tenant_identity_providers: 1 re-sealed, 0 failed",
        "oauth_tokens: 1 re-sealed, 0 failed",
        "users: 1 re-sealed, 0 failed",
    ] {
        assert!(report.contains(line), "`{line}` in:\n{report}");
    }
    let again = rotate_keys(&app, &rotating_keys()).await;
    assert_eq!(
        again.matches(" 0 re-sealed, 0 failed").count(),
        tenantry::rotate_keys::SEALED.len(),
        "idempotent:\n{again}"
    );
    drop(rotating);

    // ------------------------------------------- generation 3: old keys gone
    let new = Peer::start(&app, &idp, &new_keys()).await;
    let after = sealed_values(&app, &new.state.secrets).await;
    assert!(after.iter().all(|(_, k, _)| k == "k2"), "{after:?}");
    for original in &originals {
        let same = after.iter().any(|(t, _, p)| t == &original.0 && p == &original.2);
        assert!(same, "{} value lost in rotation", original.0);
    }
    // Old access tokens die with the old key (the runbook waits for their expiry).
    assert_eq!(new.status(&old_access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(new.status(&new_access).await, StatusCode::OK);
    new.refresh(&new_refresh).await;
    new.refresh(&untouched_refresh).await;
    new.idp_sign_in(&idp, "contoso", "alan").await;
    new.totp_sign_in(&app, totp_email, &seed).await;
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE tenant_id = $1 AND email LIKE '%@contoso.test'")
            .bind(t.id)
            .fetch_one(&mut app.db.superuser().await)
            .await
            .unwrap();
    assert_eq!(users, 4 + 3, "ada, grace and alan were provisioned once each");
}
