//! Requests to a [`TestApp`]: JSON calls, sign-in and tokens; [`Resp`], a response
//! with its body parsed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD, TestApp};

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a JSON request (body optional) with an optional bearer token.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::from(req.send().await.expect("request sent")).await
    }

    /// An unauthenticated JSON document (`/openapi.json`, `/health/detailed`).
    pub async fn public_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The text of an unauthenticated GET (metrics, Swagger UI assets).
    pub async fn public_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Signs in and returns the whole token response.
    pub async fn login(&self, email: &str, password: &str, tenant_slug: Option<&str>) -> Resp {
        let mut body = json!({"email": email, "password": password});
        if let Some(s) = tenant_slug {
            body["tenant_slug"] = json!(s);
        }
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await
    }

    /// An access token, panicking when sign-in fails.
    pub async fn token(&self, email: &str, password: &str, tenant_slug: Option<&str>) -> String {
        let r = self.login(email, password, tenant_slug).await;
        assert_eq!(r.status, StatusCode::OK, "login of {email} failed: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn super_admin_token(&self) -> String {
        self.token(SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD, Some("system"))
            .await
    }
}

/// A response with its body parsed as JSON (or `Value::String` when not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 7807 shape and status.
    pub fn assert_problem(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        for field in ["type", "title", "status", "detail", "request_id"] {
            assert!(self.body.get(field).is_some(), "problem lacks `{field}`: {}", self.body);
        }
        assert_eq!(self.body["status"], status.as_u16());
        self
    }
}
