//! The console's security rules over plain HTTP: CSRF, cookie flags, CSP,
//! tokens leaving the address bar, the vendored assets.

use reqwest::{StatusCode, header};

use super::browser::console_app;
use crate::helpers::*;

/// The value of `name` among a response's Set-Cookie headers.
fn set_cookie<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn cookie_value(line: &str) -> String {
    line.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused() {
    let app = console_app().await;
    let t = app.seed_tenant("acme").await;
    let form = [("email", t.email("user")), ("password", PASSWORD)];

    // No token at all.
    let r = app.client.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // The page's pre-sign-in token: cookie flags, CSP, then a working sign-in.
    let page = app.client.get(app.url("/login")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        !csp.contains("unsafe-inline") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let line = set_cookie(&page, "tenantry_csrf").expect("csrf cookie").to_string();
    assert!(line.contains("HttpOnly") && line.contains("SameSite=Lax"), "{line}");
    let csrf = cookie_value(&line);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("value=\"{csrf}\"")));

    let cookie = format!("tenantry_csrf={csrf}");
    let wrong = [
        ("email", t.email("user")),
        ("password", PASSWORD),
        ("csrf_token", "forged"),
    ];
    let r = app
        .client
        .post(app.url("/login"))
        .header(header::COOKIE, &cookie)
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong token");

    let good = [
        ("email", t.email("user")),
        ("password", PASSWORD),
        ("csrf_token", csrf.as_str()),
    ];
    let r = app
        .client
        .post(app.url("/login"))
        .header(header::COOKIE, &cookie)
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&r, "tenantry_session").expect("session cookie").to_string();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "not in the test environment");

    // Signed in: a state change without the session's token is refused and changes nothing.
    let cookie = format!("tenantry_session={}", cookie_value(&session));
    let r = app
        .client
        .post(app.url("/account"))
        .header(header::COOKIE, &cookie)
        .form(&[("first_name", "Mallory"), ("last_name", "X")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let token = t.token(&app, "user").await;
    let me = app.get("/api/v1/users/me", &token).await;
    assert_ne!(me.body["first_name"], "Mallory");
    let r = app
        .client
        .post(app.url("/logout"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "even sign-out needs the token");
}

#[tokio::test]
async fn link_tokens_leave_the_url_and_assets_are_cached() {
    let app = console_app().await;
    let r = app
        .client
        .get(app.url("/reset-password?token=abc_DEF-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/reset-password");
    let line = set_cookie(&r, "tenantry_link").unwrap();
    assert!(line.contains("HttpOnly") && line.contains("Max-Age=1800"), "{line}");
    let r = app
        .client
        .get(app.url("/reset-password"))
        .header(header::COOKIE, format!("tenantry_link={}", cookie_value(line)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("expired or was already used"));

    let html = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let js = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap();
    let js = js.replace("&#x2f;", "/");
    let r = app.client.get(app.url(&js)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(r.text().await.unwrap().contains("htmx"));
    // The Swagger page keeps its own policy.
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    if docs.status() == StatusCode::OK {
        assert!(
            docs.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("unsafe-inline")
        );
    }
}
