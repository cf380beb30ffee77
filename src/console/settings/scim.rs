//! `/admin/scim`: the tenant's SCIM tokens through the API's `create_token`,
//! `list_tokens` and `revoke_token`. A new token is shown once, with the SCIM
//! base URL an identity provider needs next to it.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CopyItem, Done, confirm_page, fixable, messages, notice, refused, secret_page};
use crate::{
    app::AppState,
    console::{
        account::when,
        admin::expiry,
        render::{self, Frame},
        see_other,
        session::Console,
    },
    http::extract::{ApiJson, ApiPath},
    rbac::perm,
    scim::tokens::{self, NewScimToken},
};

type Admin = Console<perm::TenantManage>;

#[derive(Serialize)]
struct TokenRow {
    id: Uuid,
    name: String,
    prefix: String,
    created: String,
    expires: Option<String>,
    last_used: Option<String>,
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    tokens: Vec<TokenRow>,
    base_url: String,
    notice: Option<&'static str>,
}

fn base_url(state: &AppState) -> String {
    format!("{}/scim/v2", state.config.base_url)
}

pub async fn list_page(State(state): State<AppState>, me: Admin, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/admin/scim");
    let items = match tokens::list_tokens(me.authz).await {
        Ok(ApiJson(items)) => items,
        Err(e) => return render::api_error(e),
    };
    let tokens = items
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: when(t.created_at),
            expires: t.expires_at.map(when),
            last_used: t.last_used_at.map(when),
        })
        .collect();
    let view = ListView {
        frame,
        tokens,
        base_url: base_url(&state),
        notice: notice(&done),
    };
    render::ok("settings_scim.html", view)
}

#[derive(Default, Deserialize, Serialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    /// `YYYY-MM-DD`; empty: the token does not expire.
    #[serde(default)]
    expires_on: String,
}

#[derive(Serialize)]
struct NewView {
    frame: Frame,
    form: CreateForm,
    errors: Vec<String>,
}

fn new_form(status: StatusCode, frame: Frame, form: CreateForm, errors: Vec<String>) -> Response {
    render::page(status, "settings_scim_new.html", NewView { frame, form, errors })
}

pub async fn new_page(me: Admin) -> Response {
    new_form(
        StatusCode::OK,
        me.frame("/admin/scim"),
        CreateForm::default(),
        Vec::new(),
    )
}

pub async fn create_submit(
    State(state): State<AppState>,
    me: Admin,
    axum::Form(form): axum::Form<CreateForm>,
) -> Response {
    let frame = me.frame("/admin/scim");
    let outcome = match expiry(&form.expires_on) {
        Ok(expires_at) => {
            let input = NewScimToken {
                name: form.name.clone(),
                expires_at,
            };
            tokens::create_token(me.authz, ApiJson(input)).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok((_, ApiJson(created))) => secret_page(
            frame,
            format!("SCIM token {}", created.view.name),
            "Copy the token now: it is shown only this once. In your identity provider's provisioning \
             settings, enter the SCIM base URL as the tenant URL and the token as the secret token.",
            vec![
                CopyItem {
                    id: "scim-base-url",
                    label: "SCIM base URL",
                    value: base_url(&state),
                },
                CopyItem {
                    id: "scim-token",
                    label: "Token",
                    value: created.token,
                },
            ],
            ("/admin/scim".into(), "Back to SCIM tokens"),
        ),
        Err(e) if fixable(&e) => new_form(e.status(), frame, form, messages(&e)),
        Err(e) => refused(e),
    }
}

pub async fn revoke_page(me: Admin, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/admin/scim");
    let items = match tokens::list_tokens(me.authz).await {
        Ok(ApiJson(items)) => items,
        Err(e) => return render::api_error(e),
    };
    let Some(token) = items.into_iter().find(|t| t.id == id) else {
        return refused(crate::http::ApiError::not_found("SCIM token"));
    };
    let text = format!(
        "Revoke the SCIM token \"{}\" ({}…)? Provisioning with it stops at once; this cannot be undone.",
        token.name, token.prefix
    );
    let action = format!("/admin/scim/{id}/revoke");
    confirm_page(
        frame,
        "Revoke SCIM token",
        &text,
        &action,
        "Revoke token",
        "/admin/scim",
    )
}

pub async fn revoke_submit(me: Admin, Path(id): Path<Uuid>) -> Response {
    match tokens::revoke_token(me.authz, ApiPath(id)).await {
        Ok(_) => see_other("/admin/scim?done=revoked"),
        Err(e) => refused(e),
    }
}
