//! One `chromedriver` per test binary (started on a free port by the first
//! browser test, stopped when the last one ends) and a fresh Chromium profile
//! per test. Controls are found by their visible label, as a person would.
//! Without chromedriver the browser tests are skipped, loudly.

use std::{
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Map, Value, json};

use crate::{helpers::*, support::free_port};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The shared driver: its process, port and how many browsers use it.
static DRIVER: Mutex<Option<(Child, u16, usize)>> = Mutex::new(None);

fn lease_driver() -> Option<u16> {
    let mut guard = DRIVER.lock().unwrap();
    if let Some((_, port, users)) = guard.as_mut() {
        *users += 1;
        return Some(*port);
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    *guard = Some((child, port, 1));
    Some(port)
}

fn release_driver() {
    let mut guard = DRIVER.lock().unwrap();
    if let Some((child, _, users)) = guard.as_mut() {
        *users -= 1;
        if *users == 0 {
            let _ = child.kill();
            let _ = child.wait();
            *guard = None;
        }
    }
}

pub struct Browser {
    pub client: Client,
    pub base: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        release_driver();
    }
}

impl Browser {
    /// A fresh headless Chromium on `app`, or `None` (with a loud message)
    /// when chromedriver is not installed.
    pub async fn open(app: &TestApp) -> Option<Browser> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            eprintln!(
                "\n!!!!! SKIPPED: browser test needs {CHROMEDRIVER} (Debian packages `chromium` and \
                 `chromium-driver`; .ci/run installs them) !!!!!\n"
            );
            return None;
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = lease_driver()?;
        let profile = tempfile::tempdir().unwrap();
        let args = json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1200,900",
            format!("--user-data-dir={}", profile.path().display()),
        ]);
        let mut options = json!({ "args": args });
        if std::path::Path::new(CHROMIUM).exists() {
            options["binary"] = json!(CHROMIUM);
        }
        let mut caps = Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..50 {
            match ClientBuilder::rustls()
                .unwrap()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        base: app.base.clone(),
                        _profile: profile,
                    });
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        release_driver();
        panic!("chromedriver did not start a session: {last_error:?}");
    }

    pub async fn go(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.unwrap();
    }

    /// The path (and query) the browser is on now.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The control a visible `<label>` with exactly this text labels.
    pub async fn labelled(&self, label: &str) -> Element {
        let xpath = format!("//*[@id=//label[normalize-space(.)='{label}']/@for]");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no control labelled {label:?}: {e}"))
    }

    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.labelled(label).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks the button (or link) showing exactly this text.
    pub async fn press(&self, text: &str) {
        let xpath = format!("//button[normalize-space(.)='{text}'] | //a[normalize-space(.)='{text}']");
        let page = self.client.find(Locator::Css("html")).await.unwrap();
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"))
            .click()
            .await
            .unwrap();
        // Every button here submits a form or follows a link: wait for the
        // next page to replace this one.
        for _ in 0..200 {
            if page.attr("lang").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Clicks the button showing exactly this text and does not wait: for
    /// buttons whose script stays on the page.
    pub async fn click(&self, text: &str) {
        let xpath = format!("//button[normalize-space(.)='{text}']");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Runs `script` (a function body: `return …`) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits (up to 30 s) until `condition`, a JavaScript expression, is true.
    pub async fn wait_for(&self, condition: &str) {
        let script = format!("return !!({condition});");
        for _ in 0..600 {
            if self.js(&script).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("still not true after 30 s: {condition}\n{}", self.text().await);
    }

    /// The console session cookie as a `Cookie` header value, for fetching
    /// what the signed-in person would.
    pub async fn session_cookie(&self) -> String {
        let c = self.client.get_named_cookie("tenantry_session").await.unwrap();
        format!("{}={}", c.name(), c.value())
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn signs_in(&self, email: &str, password: &str) {
        self.go("/login").await;
        self.fill("Email address", email).await;
        self.fill("Password", password).await;
        self.press("Sign in").await;
    }

    /// Saves a screenshot to docs/screenshots/{name}.png when
    /// `UPDATE_SCREENSHOTS=1` (so ordinary test runs leave the tree clean).
    pub async fn screenshot(&self, name: &str) {
        if std::env::var("UPDATE_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Inline scripts on the page (a stored `<script>` would show up here).
pub async fn inline_scripts(b: &Browser) -> usize {
    let n: Value = b
        .client
        .execute("return document.querySelectorAll('script:not([src])').length;", vec![])
        .await
        .unwrap();
    n.as_u64().unwrap() as usize
}

/// The app with email links pointing at itself (FRONTEND_URL defaults to BASE_URL).
pub async fn console_app() -> TestApp {
    TestApp::spawn_with(TestConfig::default().set("FRONTEND_URL", "")).await
}

/// Makes the seeded `user` of `t` an administrator of everything but
/// `audit:read` (a custom role named `role_name`), so tests can show that a
/// permission its holder lacks is not offered. Returns the role's id.
pub async fn admin_without_audit_read(app: &TestApp, t: &SeededTenant, role_name: &str) -> String {
    let admin = t.token(app, "tenant_admin").await;
    let perms: Vec<&str> = tenantry::rbac::Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .filter(|p| *p != "audit:read")
        .collect();
    let r = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": role_name, "permissions": perms}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    let role = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/api/v1/users/{}/roles", t.user_id("user")),
            &admin,
            json!({"role_id": role}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    role
}

/// The link in the newest `template` mail to `to`, rendered as it is sent.
pub async fn mail_link(app: &TestApp, to: &str, template: &str) -> String {
    let mut su = app.db.superuser().await;
    let (context, tenant_name, tenant_slug): (Value, String, String) = sqlx::query_as(
        "SELECT o.context, t.name, t.slug FROM email_outbox o JOIN tenants t ON t.id = o.tenant_id \
         WHERE lower(o.to_email) = lower($1) AND o.template = $2 ORDER BY o.created_at DESC LIMIT 1",
    )
    .bind(to)
    .bind(template)
    .fetch_one(&mut su)
    .await
    .unwrap();
    let config = &app.state.config;
    let templates = tenantry::email::templates::Templates::new(&config.app_name, &config.frontend_url).unwrap();
    let kind = tenantry::email::EmailTemplate::parse(template).unwrap();
    let recipient = tenantry::email::templates::Recipient {
        to_email: to,
        tenant_name: &tenant_name,
        tenant_slug: &tenant_slug,
    };
    let mail = templates.render(kind, &recipient, &context).unwrap();
    mail.text
        .split_whitespace()
        .find(|w| w.starts_with(&app.base) && w.contains("token="))
        .unwrap_or_else(|| panic!("no link in the {template} mail: {}", mail.text))
        .to_string()
}
