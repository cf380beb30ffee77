//! `/admin/roles`: the tenant's roles, and a custom role created or edited on
//! a permission matrix (resource × action) through the API's `create_role`
//! and `update_role`. Permissions the caller does not hold are shown
//! disabled; system roles are read-only.

use axum::{
    body::Bytes,
    extract::{Path, Query},
    http::StatusCode,
    response::Response,
};
use serde::Serialize;
use uuid::Uuid;

use super::{Done, field_message, refused};
use crate::{
    auth::AuthCtx,
    console::{
        render::{self, Frame},
        see_other,
        session::Console,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath},
    },
    rbac::{
        Permission, handlers as roles,
        model::{NewRole, UpdateRole},
        perm, repo,
    },
};

#[derive(Serialize)]
struct RoleRow {
    id: Uuid,
    name: String,
    description: String,
    system: bool,
    permissions: usize,
    users: i64,
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    roles: Vec<RoleRow>,
    can_create: bool,
    notice: Option<&'static str>,
}

pub async fn list_page(me: Console<perm::RolesRead>, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/admin/roles");
    let can_create = me.authz.ctx.has(Permission::RolesCreate);
    let mut tx = me.authz.tx;
    let rows = match repo::list_roles(&mut tx, 100, 0).await {
        Ok((rows, _)) => rows,
        Err(e) => return render::api_error(e.into()),
    };
    let roles = rows
        .into_iter()
        .map(|r| RoleRow {
            id: r.id,
            permissions: r.permissions.len(),
            users: r.user_count,
            system: r.is_system,
            name: r.name,
            description: r.description,
        })
        .collect();
    let notice = match done.done.as_deref() {
        Some("saved") => Some("The role is saved."),
        _ => None,
    };
    render::ok(
        "admin_roles.html",
        ListView {
            frame,
            roles,
            can_create,
            notice,
        },
    )
}

/// One checkbox of the matrix (`None` where the catalogue has no such pair).
#[derive(Serialize)]
pub(in crate::console) struct Cell {
    name: String,
    checked: bool,
    disabled: bool,
}

#[derive(Serialize)]
pub(in crate::console) struct MatrixRow {
    resource: &'static str,
    cells: Vec<Option<Cell>>,
}

#[derive(Serialize)]
struct RoleFormView {
    frame: Frame,
    /// `None` for a new role.
    id: Option<Uuid>,
    name: String,
    description: String,
    read_only: bool,
    actions: Vec<&'static str>,
    matrix: Vec<MatrixRow>,
    error: Option<String>,
}

/// The catalogue as resource rows × action columns, in catalogue order
/// (also the API-key page's; its markup is `_permission_matrix.html`).
pub(in crate::console) fn matrix(
    ctx: &AuthCtx,
    checked: &[String],
    read_only: bool,
) -> (Vec<&'static str>, Vec<MatrixRow>) {
    let split = |p: &Permission| p.as_str().split_once(':').expect("catalogue names are resource:action");
    let mut resources: Vec<&'static str> = Vec::new();
    let mut actions: Vec<&'static str> = Vec::new();
    for p in Permission::ALL {
        let (r, a) = split(p);
        if !resources.contains(&r) {
            resources.push(r);
        }
        if !actions.contains(&a) {
            actions.push(a);
        }
    }
    let rows = resources
        .iter()
        .map(|resource| MatrixRow {
            resource,
            cells: actions
                .iter()
                .map(|action| {
                    let p = Permission::ALL.iter().find(|p| split(p) == (*resource, *action))?;
                    Some(Cell {
                        name: p.as_str().to_string(),
                        checked: checked.iter().any(|c| c == p.as_str()),
                        disabled: read_only || !ctx.has(*p),
                    })
                })
                .collect(),
        })
        .collect();
    (actions, rows)
}

/// `name`, `description` and the ticked `permissions` (repeated) of the form.
fn parse(body: &[u8]) -> (String, String, Vec<String>) {
    let (mut name, mut description, mut permissions) = (String::new(), String::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "name" => name = v.into_owned(),
            "description" => description = v.into_owned(),
            "permissions" => permissions.push(v.into_owned()),
            _ => {}
        }
    }
    (name, description, permissions)
}

#[allow(clippy::too_many_arguments)]
fn form_page(
    status: StatusCode,
    frame: Frame,
    ctx: &AuthCtx,
    id: Option<Uuid>,
    (name, description, checked): (String, String, Vec<String>),
    read_only: bool,
    error: Option<String>,
) -> Response {
    let (actions, matrix) = matrix(ctx, &checked, read_only);
    let view = RoleFormView {
        frame,
        id,
        name,
        description,
        read_only,
        actions,
        matrix,
        error,
    };
    render::page(status, "admin_role.html", view)
}

/// An API refusal shown on the form (the matrix as the person left it).
fn form_error(e: ApiError) -> Option<String> {
    matches!(
        e,
        ApiError::Validation(_) | ApiError::Conflict { .. } | ApiError::Forbidden(_)
    )
    .then(|| field_message(&e))
}

pub async fn new_page(me: Console<perm::RolesCreate>) -> Response {
    let frame = me.frame("/admin/roles");
    let empty = (String::new(), String::new(), Vec::new());
    form_page(StatusCode::OK, frame, &me.authz.ctx, None, empty, false, None)
}

pub async fn create_submit(me: Console<perm::RolesCreate>, body: Bytes) -> Response {
    let frame = me.frame("/admin/roles");
    let ctx = me.authz.ctx.clone();
    let form = parse(&body);
    let input = NewRole {
        name: form.0.clone(),
        description: form.1.clone(),
        permissions: form.2.clone(),
    };
    match roles::create_role(me.authz, ApiJson(input)).await {
        Ok(_) => see_other("/admin/roles?done=saved"),
        Err(e) => {
            let status = e.status();
            match form_error(e) {
                Some(msg) => form_page(status, frame, &ctx, None, form, false, Some(msg)),
                None => render::message(status, "Error", "The role could not be saved."),
            }
        }
    }
}

pub async fn role_page(me: Console<perm::RolesRead>, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/admin/roles");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let role = match repo::find_role(&mut tx, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return refused(ApiError::not_found("Role")),
        Err(e) => return render::api_error(e.into()),
    };
    let read_only = role.is_system || !ctx.has(Permission::RolesUpdate);
    let form = (role.name, role.description, role.permissions);
    form_page(StatusCode::OK, frame, &ctx, Some(id), form, read_only, None)
}

pub async fn update_submit(me: Console<perm::RolesUpdate>, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let frame = me.frame("/admin/roles");
    let ctx = me.authz.ctx.clone();
    let form = parse(&body);
    let input = UpdateRole {
        name: Some(form.0.clone()),
        description: Some(form.1.clone()),
        permissions: Some(form.2.clone()),
    };
    match roles::update_role(me.authz, ApiPath(id), ApiJson(input)).await {
        Ok(_) => see_other("/admin/roles?done=saved"),
        Err(e) => {
            let status = e.status();
            match form_error(e) {
                Some(msg) => form_page(status, frame, &ctx, Some(id), form, false, Some(msg)),
                None => render::message(status, "Error", "The role could not be saved."),
            }
        }
    }
}
