//! `/admin/users/invite`: invite one person by email with roles, through the
//! API's `invite_user`. Only roles whose every permission the inviter holds
//! are offered (the API refuses the others with 403 anyway).

use axum::{body::Bytes, response::Response};
use serde::Serialize;

use super::field_message;
use crate::{
    auth::{AuthCtx, Authz},
    console::{
        render::{self, Frame},
        see_other,
        session::Console,
    },
    db::TenantTx,
    http::{ApiError, extract::ApiJson},
    rbac::{Permission, perm, repo as roles_repo},
    users::{invite, model::InviteRequest},
};

type Inviter = Console<perm::UsersInvite>;

#[derive(Serialize)]
struct RoleChoice {
    name: String,
    description: String,
    checked: bool,
}

#[derive(Serialize)]
struct InviteView {
    frame: Frame,
    email: String,
    roles: Vec<RoleChoice>,
    error: Option<String>,
    /// The CSV import (accounts created through `bulk_create`) needs users:create.
    can_import: bool,
}

/// The roles the caller could grant in full, `checked` as given.
async fn grantable(tx: &mut TenantTx, ctx: &AuthCtx, checked: &[String]) -> Result<Vec<RoleChoice>, sqlx::Error> {
    let (all, _) = roles_repo::list_roles(tx, 100, 0).await?;
    Ok(all
        .into_iter()
        .filter(|r| {
            r.permissions
                .iter()
                .all(|p| Permission::parse(p).is_some_and(|p| ctx.has(p)))
        })
        .map(|r| RoleChoice {
            checked: checked.contains(&r.name),
            name: r.name,
            description: r.description,
        })
        .collect())
}

pub async fn invite_page(me: Inviter) -> Response {
    let frame = me.frame("/admin/users");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    match grantable(&mut tx, &ctx, &["user".to_string()]).await {
        Ok(roles) => render::ok(
            "admin_invite.html",
            InviteView {
                frame,
                email: String::new(),
                roles,
                error: None,
                can_import: ctx.has(Permission::UsersCreate),
            },
        ),
        Err(e) => render::api_error(e.into()),
    }
}

/// The form's `email` and its ticked `roles` (repeated).
fn parse(body: &[u8]) -> (String, Vec<String>) {
    let mut email = String::new();
    let mut roles = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "email" => email = v.into_owned(),
            "roles" => roles.push(v.into_owned()),
            _ => {}
        }
    }
    (email, roles)
}

pub async fn invite_submit(me: Inviter, body: Bytes) -> Response {
    let frame = me.frame("/admin/users");
    let (email, role_names) = parse(&body);
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    // Read before the API's handler takes the transaction, to redraw the form.
    let roles = match grantable(&mut tx, &ctx, &role_names).await {
        Ok(r) => r,
        Err(e) => return render::api_error(e.into()),
    };
    let can_import = ctx.has(Permission::UsersCreate);
    let authz = match Authz::<perm::UsersInvite>::checked(ctx, tx) {
        Ok(a) => a,
        Err(e) => return render::api_error(e),
    };
    let input = InviteRequest {
        email: email.clone(),
        role_names: Some(role_names),
    };
    match invite::invite_user(authz, ApiJson(input)).await {
        Ok(_) => see_other("/admin/users?done=invited"),
        Err(e @ (ApiError::Validation(_) | ApiError::Conflict { .. } | ApiError::Forbidden(_))) => {
            let status = e.status();
            let view = InviteView {
                frame,
                email,
                roles,
                error: Some(field_message(&e)),
                can_import,
            };
            render::page(status, "admin_invite.html", view)
        }
        Err(e) => render::api_error(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_form_gives_every_ticked_role() {
        let (email, roles) = super::parse(b"csrf_token=x&email=a%40b.test&roles=user&roles=viewer");
        assert_eq!(email, "a@b.test");
        assert_eq!(roles, ["user", "viewer"]);
    }
}
