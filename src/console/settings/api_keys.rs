//! `/admin/api-keys`: the tenant's API keys through the API's
//! `create_api_key`, `list_api_keys` and `revoke_api_key`. A key's
//! permissions are ticked on the role matrix, where permissions the admin
//! does not hold are disabled (the API refuses them anyway); the key is shown once.

use axum::{
    body::Bytes,
    extract::{Path, Query},
    http::StatusCode,
    response::Response,
};
use serde::Serialize;
use uuid::Uuid;

use super::{CopyItem, Done, confirm_page, fixable, messages, notice, refused, secret_page};
use crate::{
    auth::AuthCtx,
    console::{
        account::when,
        admin::{MatrixRow, expiry, matrix},
        render::{self, Frame},
        see_other,
        session::Console,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    integrations::api_keys::handlers::{self as keys, ApiKeyView, NewApiKey},
    pagination::PageParams,
    rbac::perm,
};

type Admin = Console<perm::TenantManage>;

#[derive(Serialize)]
struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    permissions: String,
    status: String,
    created: String,
    expires: Option<String>,
    last_used: Option<String>,
}

impl From<ApiKeyView> for KeyRow {
    fn from(k: ApiKeyView) -> Self {
        KeyRow {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            permissions: k.permissions.join(", "),
            status: k.status,
            created: when(k.created_at),
            expires: k.expires_at.map(when),
            last_used: k.last_used_at.map(when),
        }
    }
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    keys: Vec<KeyRow>,
    notice: Option<&'static str>,
}

async fn all_keys(me: Admin) -> Result<Vec<ApiKeyView>, ApiError> {
    let page = PageParams {
        page: 1,
        page_size: 100,
    };
    let ApiJson(page) = keys::list_api_keys(me.authz, ApiQuery(page)).await?;
    Ok(page.items)
}

pub async fn list_page(me: Admin, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/admin/api-keys");
    match all_keys(me).await {
        Ok(items) => render::ok(
            "settings_api_keys.html",
            ListView {
                frame,
                keys: items.into_iter().map(KeyRow::from).collect(),
                notice: notice(&done),
            },
        ),
        Err(e) => render::api_error(e),
    }
}

/// `name`, `expires_on` and the ticked `permissions` (repeated) of the form.
#[derive(Default)]
struct KeyForm {
    name: String,
    expires_on: String,
    permissions: Vec<String>,
}

fn parse(body: &[u8]) -> KeyForm {
    let mut f = KeyForm::default();
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "name" => f.name = v.into_owned(),
            "expires_on" => f.expires_on = v.into_owned(),
            "permissions" => f.permissions.push(v.into_owned()),
            _ => {}
        }
    }
    f
}

#[derive(Serialize)]
struct NewView {
    frame: Frame,
    name: String,
    expires_on: String,
    actions: Vec<&'static str>,
    matrix: Vec<MatrixRow>,
    errors: Vec<String>,
}

fn new_form(status: StatusCode, frame: Frame, ctx: &AuthCtx, form: KeyForm, errors: Vec<String>) -> Response {
    let (actions, matrix) = matrix(ctx, &form.permissions, false);
    let view = NewView {
        frame,
        name: form.name,
        expires_on: form.expires_on,
        actions,
        matrix,
        errors,
    };
    render::page(status, "settings_api_key_new.html", view)
}

pub async fn new_page(me: Admin) -> Response {
    new_form(
        StatusCode::OK,
        me.frame("/admin/api-keys"),
        &me.authz.ctx,
        KeyForm::default(),
        Vec::new(),
    )
}

pub async fn create_submit(me: Admin, body: Bytes) -> Response {
    let frame = me.frame("/admin/api-keys");
    let ctx = me.authz.ctx.clone();
    let form = parse(&body);
    let outcome = match expiry(&form.expires_on) {
        Ok(expires_at) => {
            let input = NewApiKey {
                name: form.name.clone(),
                permissions: form.permissions.clone(),
                expires_at,
            };
            keys::create_api_key(me.authz, ApiJson(input)).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok((_, ApiJson(created))) => secret_page(
            frame,
            format!("API key {}", created.name),
            "Copy the key now: it is shown only this once. Send it in the Authorization header as a Bearer token; \
             it can do what its permissions allow, and no more than you can.",
            vec![CopyItem {
                id: "api-key",
                label: "API key",
                value: created.key,
            }],
            ("/admin/api-keys".into(), "Back to API keys"),
        ),
        Err(e) if fixable(&e) => new_form(e.status(), frame, &ctx, form, messages(&e)),
        Err(e) => refused(e),
    }
}

pub async fn revoke_page(me: Admin, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/admin/api-keys");
    let key = match all_keys(me).await {
        Ok(items) => items.into_iter().find(|k| k.id == id),
        Err(e) => return render::api_error(e),
    };
    let Some(key) = key else {
        return refused(ApiError::not_found("API key"));
    };
    let text = format!(
        "Revoke the API key \"{}\" ({}…)? Requests with it are refused at once; this cannot be undone.",
        key.name, key.prefix
    );
    let action = format!("/admin/api-keys/{id}/revoke");
    confirm_page(frame, "Revoke API key", &text, &action, "Revoke key", "/admin/api-keys")
}

pub async fn revoke_submit(me: Admin, Path(id): Path<Uuid>) -> Response {
    match keys::revoke_api_key(me.authz, ApiPath(id)).await {
        Ok(_) => see_other("/admin/api-keys?done=revoked"),
        Err(e) => refused(e),
    }
}
