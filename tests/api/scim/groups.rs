//! Groups: Okta's and Entra's group sequences over SCIM, and roles inherited
//! through `/api/v1/groups` taking effect (and ending) at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;

fn ops(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn okta_and_entra_group_sequences() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let token = scim_token(&app, &t).await;
    let u1 = create_user(&app, &token, "u1@acme.test").await;
    let u2 = create_user(&app, &token, "u2@acme.test").await;
    let u3 = create_user(&app, &token, "u3@acme.test").await;

    let r = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineers",
                    "members": [{"value": u1}]}),
        ),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(member_ids(&r.body), vec![u1.clone()]);
    let r = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(json!({"displayName": "engineers"})),
        None,
    )
    .await;
    assert_scim_error(&r, StatusCode::CONFLICT, Some("uniqueness"));

    let r = scim(
        &app,
        Method::GET,
        "/Groups?filter=displayName%20eq%20%22Engineers%22&excludedAttributes=members",
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert!(r.body["Resources"][0].get("members").is_none());

    let path = format!("/Groups/{gid}");
    // Entra: add members, remove by filter path, remove with a value list.
    let r = scim(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(ops(
            json!([{"op": "Add", "path": "members", "value": [{"value": u2}, {"value": u3}]}]),
        )),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(member_ids(&r.body).len(), 3);
    let r = scim(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(ops(
            json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]),
        )),
        None,
    )
    .await;
    assert!(!member_ids(&r.body).contains(&u2), "{}", r.body);
    let r = scim(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(ops(
            json!([{"op": "Remove", "path": "members", "value": [{"value": u3}]}]),
        )),
        None,
    )
    .await;
    assert_eq!(member_ids(&r.body), vec![u1.clone()]);
    // Okta: replace the whole member list and the name.
    let r = scim(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(ops(
            json!([{"op": "replace", "value": {"id": gid, "displayName": "Eng"}},
                        {"op": "replace", "path": "members", "value": [{"value": u2}, {"value": u3}]}]),
        )),
        None,
    )
    .await;
    assert_eq!(r.body["displayName"], "Eng");
    let mut want = vec![u2.clone(), u3.clone()];
    want.sort();
    assert_eq!(member_ids(&r.body), want);
    // The user resource shows its groups (read-only).
    let u = scim(&app, Method::GET, &format!("/Users/{u2}"), &token, None, None).await;
    assert_eq!(u.body["groups"][0]["value"], gid.as_str());
    // Unknown members are refused; another tenant never sees the group.
    let r = scim(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(ops(
            json!([{"op": "add", "path": "members", "value": [{"value": uuid::Uuid::new_v4()}]}]),
        )),
        None,
    )
    .await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let other = app.seed_tenant("beta").await;
    let other_token = scim_token(&app, &other).await;
    let r = scim(&app, Method::GET, &path, &other_token, None, None).await;
    assert_scim_error(&r, StatusCode::NOT_FOUND, None);

    let r = scim(&app, Method::DELETE, &path, &token, None, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = scim(&app, Method::GET, &path, &token, None, None).await;
    assert_scim_error(&r, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn a_group_role_grants_and_removal_revokes_at_once() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("acme").await;
    let admin = t.token(&app, "tenant_admin").await;
    // The viewer loses its direct role: no permission at all.
    let mut c = app.db.superuser().await;
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(t.user_id("viewer"))
        .execute(&mut c)
        .await
        .unwrap();
    let viewer = t.token(&app, "viewer").await;
    let create = |tok: String| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/projects",
                &tok,
                json!({"name": format!("p-{}", uuid::Uuid::new_v4())}),
            )
            .await
            .status
        }
    };
    assert_eq!(create(viewer.clone()).await, StatusCode::FORBIDDEN);

    let g = app
        .post(
            "/api/v1/groups",
            &admin,
            json!({"display_name": "Makers", "members": [t.user_id("viewer")]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();
    let pm_role = t.roles["project_manager"];
    let r = app
        .post(&format!("/api/v1/groups/{gid}/roles/{pm_role}"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        create(viewer.clone()).await,
        StatusCode::CREATED,
        "inherited through the group"
    );

    // Leaving the group takes it away on the next request.
    let r = app
        .put(
            &format!("/api/v1/groups/{gid}"),
            &admin,
            json!({"display_name": "Makers", "members": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(create(viewer.clone()).await, StatusCode::FORBIDDEN);

    // Back in, then the role leaves the group.
    app.put(
        &format!("/api/v1/groups/{gid}"),
        &admin,
        json!({"display_name": "Makers", "members": [t.user_id("viewer")]}),
    )
    .await;
    assert_eq!(create(viewer.clone()).await, StatusCode::CREATED);
    let r = app
        .delete(&format!("/api/v1/groups/{gid}/roles/{pm_role}"), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(create(viewer.clone()).await, StatusCode::FORBIDDEN);

    // No escalation: a group manager (roles:assign) cannot hand out through a
    // group what it does not hold, neither a role nor membership of a group
    // that holds it.
    let r = app
        .post(
            "/api/v1/roles",
            &admin,
            json!({"name": "group_manager", "permissions": ["roles:assign", "users:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gm_role = r.body["id"].as_str().unwrap().to_string();
    let manager = t.user_id("project_manager");
    let r = app
        .post(
            &format!("/api/v1/users/{manager}/roles"),
            &admin,
            json!({"role_id": gm_role}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let pm = t.token(&app, "project_manager").await;
    let r = app
        .post(
            &format!("/api/v1/groups/{gid}/roles/{}", t.roles["tenant_admin"]),
            &pm,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .post(&format!("/api/v1/groups/{gid}/roles/{pm_role}"), &pm, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "a role it holds: {}", r.body);
    let admins = app
        .post("/api/v1/groups", &admin, json!({"display_name": "Admins"}))
        .await;
    let admins_id = admins.body["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/api/v1/groups/{admins_id}/roles/{}", t.roles["tenant_admin"]),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .put(
            &format!("/api/v1/groups/{admins_id}"),
            &pm,
            json!({"display_name": "Admins", "members": [manager]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}
