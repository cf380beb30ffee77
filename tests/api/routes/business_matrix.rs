//! A concrete business matrix with real resources per system role, and 404 for
//! another tenant's ids.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::rbac::{Permission, system_role_permissions};

use crate::helpers::*;

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
