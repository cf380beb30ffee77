//! Authorisation on every route, walked from the served OpenAPI document (every
//! handler is registered with `utoipa_axum::routes!`, so a new route appears
//! here without anyone editing this file):
//! - no token → 401 on every non-public `/api/v1` operation;
//! - a signed-in user holding no role → 403 on every operation needing a
//!   permission or super admin;
//! - each system role → 403 exactly where its permission set lacks the declared
//!   permission, and never 401/403 where it has it;
//! - a concrete business matrix with real resources, and 404 for another tenant's ids.

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

/// One business call of the matrix.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    needs: Permission,
}

fn call(method: Method, path: String, body: Option<Value>, needs: Permission) -> Call {
    Call {
        method,
        path,
        body,
        needs,
    }
}

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let r = app.post(path, token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn business_matrix_per_system_role_and_cross_tenant_404() {
    use Permission::*;
    let app = TestApp::spawn().await;
    let a = app.seed_tenant("acme").await;
    let b = app.seed_tenant("globex").await;
    let admin_a = a.token(&app, "tenant_admin").await;

    for role in ["viewer", "user", "project_manager", "tenant_admin"] {
        let token = a.token(&app, role).await;
        let held = system_role_permissions(role);
        let project = create(&app, &admin_a, "/api/v1/projects", json!({"name": format!("p-{role}")})).await;
        let doomed = create(&app, &admin_a, "/api/v1/projects", json!({"name": format!("d-{role}")})).await;
        let doc = create(
            &app,
            &admin_a,
            &format!("/api/v1/projects/{project}/documents"),
            json!({"name": "spec"}),
        )
        .await;
        let user = a.user_id("user");
        let calls = vec![
            call(Method::GET, "/api/v1/projects".into(), None, ProjectsRead),
            call(Method::GET, format!("/api/v1/projects/{project}"), None, ProjectsRead),
            call(Method::GET, "/api/v1/projects/stats".into(), None, ProjectsRead),
            call(
                Method::POST,
                "/api/v1/projects".into(),
                Some(json!({"name": format!("new-{role}")})),
                ProjectsCreate,
            ),
            call(
                Method::PUT,
                format!("/api/v1/projects/{project}"),
                Some(json!({"description": "changed"})),
                ProjectsUpdate,
            ),
            call(
                Method::POST,
                format!("/api/v1/projects/{project}/documents"),
                Some(json!({"name": "notes"})),
                DocumentsCreate,
            ),
            call(Method::GET, "/api/v1/projects/documents".into(), None, DocumentsRead),
            call(
                Method::GET,
                format!("/api/v1/projects/documents/{doc}"),
                None,
                DocumentsRead,
            ),
            call(
                Method::PUT,
                format!("/api/v1/projects/documents/{doc}"),
                Some(json!({"description": "d"})),
                DocumentsUpdate,
            ),
            call(
                Method::DELETE,
                format!("/api/v1/projects/documents/{doc}"),
                None,
                DocumentsDelete,
            ),
            call(
                Method::DELETE,
                format!("/api/v1/projects/{doomed}"),
                None,
                ProjectsDelete,
            ),
            call(Method::GET, "/api/v1/users".into(), None, UsersRead),
            call(Method::GET, format!("/api/v1/users/{user}"), None, UsersRead),
            call(Method::GET, "/api/v1/roles".into(), None, RolesRead),
            call(Method::GET, "/api/v1/permissions".into(), None, RolesRead),
            call(
                Method::POST,
                "/api/v1/roles".into(),
                Some(json!({"name": format!("r-{role}")})),
                RolesCreate,
            ),
            call(Method::GET, "/api/v1/audit/logs".into(), None, AuditRead),
        ];
        for c in calls {
            let r = app.call(c.method.clone(), &c.path, Some(&token), c.body).await;
            if held.contains(&c.needs) {
                assert!(
                    r.status.is_success(),
                    "{role} {} {} [{}]: {} {}",
                    c.method,
                    c.path,
                    c.needs,
                    r.status,
                    r.body
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {} [{}]: {}",
                    c.method,
                    c.path,
                    c.needs,
                    r.body
                );
            }
        }
    }

    // Another tenant's resources do not exist for acme's admin.
    let admin_b = b.token(&app, "tenant_admin").await;
    let project_b = create(&app, &admin_b, "/api/v1/projects", json!({"name": "secret"})).await;
    let doc_b = create(
        &app,
        &admin_b,
        &format!("/api/v1/projects/{project_b}/documents"),
        json!({"name": "plan"}),
    )
    .await;
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/projects/{project_b}"), None),
        (
            Method::PUT,
            format!("/api/v1/projects/{project_b}"),
            Some(json!({"name": "mine"})),
        ),
        (Method::DELETE, format!("/api/v1/projects/{project_b}"), None),
        (
            Method::POST,
            format!("/api/v1/projects/{project_b}/documents"),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, format!("/api/v1/projects/documents/{doc_b}"), None),
        (Method::DELETE, format!("/api/v1/projects/documents/{doc_b}"), None),
        (Method::GET, format!("/api/v1/users/{}", b.user_id("user")), None),
        (Method::GET, format!("/api/v1/roles/{}", b.roles["user"]), None),
        (Method::DELETE, format!("/api/v1/roles/{}", b.roles["user"]), None),
        (
            Method::POST,
            format!("/api/v1/users/{}/roles", b.user_id("user")),
            Some(json!({"role_id": b.roles["viewer"]})),
        ),
    ] {
        let r = app.call(method.clone(), &path, Some(&admin_a), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.body);
    }
    // ...and are untouched.
    assert_eq!(
        app.get(&format!("/api/v1/projects/{project_b}"), &admin_b).await.body["name"],
        "secret"
    );
}

/// Two response types with one schema name would leave one of them documented
/// with the other's fields (OpenAPI components are keyed by name).
#[test]
fn tenant_and_project_stats_document_their_own_shapes() {
    let doc = serde_json::to_value(tenantry::router::openapi()).unwrap();
    let fields = |name: &str| -> Vec<String> {
        let props = doc["components"]["schemas"][name]["properties"].as_object();
        props.map(|p| p.keys().cloned().collect()).unwrap_or_default()
    };
    assert!(fields("DocumentCounts").contains(&"draft".to_string()), "tenant stats");
    assert!(
        fields("StorageUsage").contains(&"max_bytes".to_string()),
        "tenant stats"
    );
    assert!(
        fields("DocumentStats").contains(&"by_content_type".to_string()),
        "project stats"
    );
    assert!(
        fields("StorageQuota").contains(&"percent_used".to_string()),
        "project stats"
    );
}

/// Every type documented in the OpenAPI components has a name of its own, so
/// none is silently replaced by another type's schema.
#[test]
fn schema_type_names_are_unique() {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                for (at, _) in src.match_indices("ToSchema") {
                    let rest = &src[at..];
                    let next = [rest.find("pub struct "), rest.find("pub enum ")];
                    let Some(decl) = next.into_iter().flatten().min() else {
                        continue;
                    };
                    let name: String = rest[decl..]
                        .split_whitespace()
                        .nth(2)
                        .unwrap_or_default()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    out.push((name, path.display().to_string()));
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut found,
    );
    found.sort();
    found.dedup();
    let clashes: Vec<_> = found.windows(2).filter(|w| w[0].0 == w[1].0).collect();
    assert!(clashes.is_empty(), "schema names used by several types: {clashes:?}");
}
