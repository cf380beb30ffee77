//! The shape of every response: problem+json errors with the right status, early
//! refusals that keep the connection usable and name the bad input, request ids
//! and security headers.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn errors_are_problem_json_with_the_right_status() {
    let app = TestApp::spawn().await;
    let login = app.url("/api/v1/auth/login");

    let r = Resp::from(
        app.client
            .post(&login)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(StatusCode::BAD_REQUEST);

    let r = Resp::from(
        app.client
            .post(&login)
            .header("content-type", "text/plain")
            .body("hi")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Without a Content-Type the body is read as JSON.
    let body = r#"{"email":"nobody@example.com","password":"not-the-password"}"#;
    let r = Resp::from(app.client.post(&login).body(body).send().await.unwrap()).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);

    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = Resp::from(
        app.client
            .post(&login)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(StatusCode::PAYLOAD_TOO_LARGE);

    let r = app
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": 5})))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{}", r.body);

    let r = app.call(Method::GET, "/api/v1/no/such/route", None, None).await;
    r.assert_problem(StatusCode::NOT_FOUND);

    let r = app.call(Method::DELETE, "/health", None, None).await;
    r.assert_problem(StatusCode::METHOD_NOT_ALLOWED);

    let r = app.call(Method::GET, "/api/v1/auth/status", None, None).await;
    r.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn early_refusals_keep_connections_usable_and_bad_input_is_named() {
    let app = TestApp::spawn().await;
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big);
    let r = Resp::from(r.send().await.unwrap()).await;
    r.assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    // The unread rest of the body makes the connection unusable; keep-alive
    // clients must be told rather than find out on their next request.
    assert_eq!(r.header("connection"), Some("close"));

    let t = app.seed_tenant("acme").await;
    let token = t.token(&app, "tenant_admin").await;
    for (query, field) in [
        ("page=abc", "page"),
        ("page_size=ten", "page_size"),
        ("page=1&page_size=1.5", "page_size"),
    ] {
        let r = app.get(&format!("/api/v1/users?{query}"), &token).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["errors"][0]["field"], field, "{query}: {}", r.body);
    }
    // Refused before its body was read (no token), a request still leaves the
    // keep-alive connection usable, even when the body arrives after the headers.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let body = r#"{"name":"late"}"#;
    let head = format!(
        "POST /api/v1/projects HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    sock.write_all(body.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let n = sock.read(&mut buf).await.unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("connection: close"), "{first}");
    sock.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let n = sock.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "connection was not kept alive"
    );

    // PostgreSQL cannot store NUL; it is refused as invalid input, never a 500.
    let r = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "ok", "description": "a\u{0}b"}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "description", "{}", r.body);
    let r = app
        .post(
            "/api/v1/users/bulk/create",
            &token,
            json!({"users": [{"email": "x\u{0}@a.io"}]}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "users[0].email", "{}", r.body);
    app.get("/api/v1/projects?search=%00", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.login("a\u{0}@b.io", "whatever-password", None).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/auth/oauth/google/login/ac%00me", &token)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // A trailing slash reaches the same route, query string kept.
    let r = app.get("/api/v1/users/?page_size=1", &token).await;
    assert_eq!(
        (r.status, r.body["page_size"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{}",
        r.body
    );

    let r = app.get("/api/v1/users?page=0&page_size=1000", &token).await;
    assert_eq!(
        (r.body["page"].as_i64(), r.body["page_size"].as_i64()),
        (Some(1), Some(100)),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn request_ids_and_security_headers_on_every_response() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.headers().contains_key("referrer-policy"));
    let r = Resp::from(app.client.get(app.url("/nope")).send().await.unwrap()).await;
    let id = r.header("x-request-id").unwrap().to_string();
    assert_eq!(r.body["request_id"], id.as_str());
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("content-security-policy"));
    let spec = app.public_json("/openapi.json").await;
    assert!(spec["paths"]["/api/v1/auth/status"].is_object());
    let metrics = app.public_text("/metrics").await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    let login_401 = &spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["401"]["content"];
    assert_eq!(
        login_401["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert!(spec["components"]["schemas"]["Problem"]["properties"]["request_id"].is_object());
    for path in ["/health", "/health/detailed", "/ready", "/metrics"] {
        assert!(
            spec["paths"][path]["get"].is_object(),
            "{path} missing from /openapi.json"
        );
    }
    // Swagger UI is self-contained: no online validator badge.
    let init = app.public_text("/docs/swagger-initializer.js").await;
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
}
