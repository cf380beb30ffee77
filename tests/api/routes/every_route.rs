//! Walking every operation of the served OpenAPI document: no token → 401, a
//! user with no role → 403, and each system role refused exactly where its
//! permission set lacks the declared permission.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::rbac::{Permission, system_role_permissions};
use uuid::Uuid;

use crate::helpers::*;

/// Operations that need no bearer token (sign-in steps, signed upload URL, SNS).
const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/password-reset/request"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/auth/verify-email"),
    ("POST", "/api/v1/auth/accept-invitation"),
    ("POST", "/api/v1/auth/mfa/verify"),
    ("POST", "/api/v1/auth/unlock"),
    ("GET", "/api/v1/auth/oauth/{provider}/login/{tenant_slug}"),
    ("POST", "/api/v1/auth/oauth/{provider}/callback/{tenant_slug}"),
    ("POST", "/api/v1/webhooks/ses"),
    // Authorised by the HMAC-signed URL the upload endpoint hands out.
    ("PUT", "/api/v1/projects/documents/{id}/content"),
];

/// Operations any authenticated user may call for themselves.
const SELF_SERVICE: &[(&str, &str)] = &[
    ("GET", "/api/v1/auth/status"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/change-password"),
    ("GET", "/api/v1/auth/history"),
    ("GET", "/api/v1/auth/security-events"),
    ("POST", "/api/v1/auth/mfa/totp/setup"),
    ("POST", "/api/v1/auth/mfa/totp/enable"),
    ("POST", "/api/v1/auth/mfa/totp/disable"),
    ("POST", "/api/v1/auth/end-impersonation"),
    ("GET", "/api/v1/users/me"),
    ("PUT", "/api/v1/users/me"),
];

struct Operation {
    method: Method,
    template: String,
    /// Scopes of the `bearer` requirement (`[]` = any authenticated caller).
    scopes: Option<Vec<String>>,
}

impl Operation {
    fn key(&self) -> (&str, &str) {
        (self.method.as_str(), self.template.as_str())
    }
    fn is(&self, list: &[(&str, &str)]) -> bool {
        list.contains(&self.key())
    }
    /// The path with every `{param}` replaced by a random UUID.
    fn concrete(&self) -> String {
        self.template
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    Uuid::new_v4().to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
    /// The catalogue permission the route declares, if any.
    fn permission(&self) -> Option<Permission> {
        self.scopes.as_ref()?.iter().find_map(|s| Permission::parse(s))
    }
    fn body(&self) -> Option<Value> {
        (self.method != Method::GET).then(|| json!({}))
    }
}

async fn operations(app: &TestApp) -> Vec<Operation> {
    let doc = app.public_json("/openapi.json").await;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let scopes = op["security"].as_array().and_then(|reqs| {
                reqs.iter()
                    .find_map(|r| r.get("bearer"))
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
            });
            ops.push(Operation {
                method,
                template: path.clone(),
                scopes,
            });
        }
    }
    assert!(
        ops.len() > 40,
        "expected the whole API in /openapi.json, found {}",
        ops.len()
    );
    ops
}

/// A user of `tenant` with no role at all.
async fn roleless_token(app: &TestApp, t: &SeededTenant) -> String {
    let mut c = app.db.superuser().await;
    sqlx::query("DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2")
        .bind(t.id)
        .bind(t.user_id("viewer"))
        .execute(&mut c)
        .await
        .unwrap();
    let token = t.token(app, "viewer").await;
    let status = app.get("/api/v1/auth/status", &token).await;
    assert_eq!(status.body["permissions"], json!([]), "{}", status.body);
    token
}

#[tokio::test]
async fn every_route_requires_a_token_and_a_permission() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let nobody = roleless_token(&app, &t).await;
    let ops = operations(&app).await;

    let mut failures = Vec::new();
    for op in &ops {
        if op.is(PUBLIC) {
            continue;
        }
        if op.scopes.is_none() {
            failures.push(format!(
                "{} {}: no bearer security declared in OpenAPI",
                op.method, op.template
            ));
        }
        let path = op.concrete();
        let anon = app.call(op.method.clone(), &path, None, op.body()).await;
        if anon.status != StatusCode::UNAUTHORIZED {
            failures.push(format!(
                "{} {path}: without a token answered {} (want 401)",
                op.method, anon.status
            ));
        }
        if op.is(SELF_SERVICE) {
            continue;
        }
        let r = app.call(op.method.clone(), &path, Some(&nobody), op.body()).await;
        if r.status != StatusCode::FORBIDDEN {
            failures.push(format!(
                "{} {path}: a user with no role got {} (want 403)",
                op.method, r.status
            ));
        }
    }
    // The allow-lists must not name routes that no longer exist.
    let known: HashSet<(&str, &str)> = ops.iter().map(|o| o.key()).collect();
    for entry in PUBLIC.iter().chain(SELF_SERVICE) {
        if !known.contains(entry) {
            failures.push(format!("allow-listed {entry:?} is not in /openapi.json"));
        }
    }
    assert!(failures.is_empty(), "authorisation gaps:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn system_roles_match_declared_permissions_on_every_route() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let ops = operations(&app).await;
    let mut failures = Vec::new();
    for role in ["viewer", "user", "project_manager", "tenant_admin"] {
        let token = t.token(&app, role).await;
        let held = system_role_permissions(role);
        for op in &ops {
            let Some(p) = op.permission() else { continue };
            let path = op.concrete();
            let r = app.call(op.method.clone(), &path, Some(&token), op.body()).await;
            let denied = matches!(r.status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED);
            if held.contains(&p) == denied {
                failures.push(format!("{role}: {} {path} [{p}] answered {}", op.method, r.status));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role/permission mismatches:\n{}",
        failures.join("\n")
    );
}
