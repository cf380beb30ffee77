//! `/admin/users/{id}`: one user's roles (with expiry), sessions and security
//! (the API's `/users/{id}/security`), deactivation behind a confirmation
//! step (the API's `DELETE /users/{id}`), and assigning a role with an
//! optional expiry (the API's `POST /users/{id}/roles`).

use axum::{
    Form,
    extract::{Path, Query},
    response::Response,
};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time, macros::format_description};
use uuid::Uuid;

use super::{Done, notice, refused};
use crate::{
    auth::Authz,
    console::{
        account::{device, when},
        render::{self, Frame},
        see_other,
        session::Console,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath},
    },
    rbac::{Permission, handlers as roles, model::AssignRole, perm, repo as roles_repo},
    users::{handlers as users, insights},
};

#[derive(Serialize)]
struct RoleItem {
    name: String,
    expires: Option<String>,
}

#[derive(Serialize)]
struct Choice {
    id: Uuid,
    name: String,
}

#[derive(Serialize)]
struct LoginItem {
    when: String,
    success: bool,
    method: String,
    reason: String,
    ip: String,
    device: String,
}

#[derive(Serialize)]
struct SessionItem {
    device: String,
    ip: String,
    method: String,
    started: String,
    last_seen: String,
    impersonated: bool,
}

#[derive(Serialize)]
struct UserView {
    frame: Frame,
    id: Uuid,
    email: String,
    active: bool,
    locked: bool,
    locked_until: Option<String>,
    failed_attempts: i32,
    mfa: bool,
    has_password: bool,
    last_login: String,
    roles: Vec<RoleItem>,
    assignable: Vec<Choice>,
    sessions: Vec<SessionItem>,
    logins: Vec<LoginItem>,
    can_deactivate: bool,
    notice: Option<&'static str>,
}

/// The user's page: one query for the role assignments, one for the roles
/// the caller may grant, then the API's security view.
pub async fn user_page(me: Console<perm::UsersRead>, Path(id): Path<Uuid>, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/admin/users");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let assignments = roles_repo::held_roles(&mut tx, id).await;
    let assignable = if ctx.has(Permission::RolesAssign) {
        roles_repo::list_roles(&mut tx, 100, 0).await.map(|(all, _)| {
            all.into_iter()
                .filter(|r| {
                    r.permissions
                        .iter()
                        .all(|p| Permission::parse(p).is_some_and(|p| ctx.has(p)))
                })
                .map(|r| Choice { id: r.id, name: r.name })
                .collect()
        })
    } else {
        Ok(Vec::new())
    };
    let (assignments, assignable) = match (assignments, assignable) {
        (Ok(a), Ok(r)) => (a, r),
        (Err(e), _) | (_, Err(e)) => return render::api_error(e.into()),
    };
    let can_deactivate = ctx.has(Permission::UsersDelete) && id != ctx.user_id;
    let authz = match Authz::<perm::UsersRead>::checked(ctx, tx) {
        Ok(a) => a,
        Err(e) => return render::api_error(e),
    };
    let s = match insights::user_security(authz, ApiPath(id)).await {
        Ok(ApiJson(s)) => s,
        Err(e) => return refused(e),
    };
    render::ok(
        "admin_user.html",
        UserView {
            frame,
            id,
            email: s.email,
            active: s.is_active,
            locked: s.is_locked,
            locked_until: s.locked_until.filter(|_| s.is_locked).map(when),
            failed_attempts: s.failed_login_count,
            mfa: s.mfa_enabled,
            has_password: s.has_password,
            last_login: s.last_login_at.map(when).unwrap_or_else(|| "never".into()),
            roles: assignments
                .into_iter()
                .map(|a| RoleItem {
                    name: a.name,
                    expires: a.expires_at.map(when),
                })
                .collect(),
            assignable,
            sessions: s
                .active_sessions
                .into_iter()
                .map(|x| SessionItem {
                    device: device(x.user_agent.as_deref()),
                    ip: x.ip_address.unwrap_or_else(|| "unknown".into()),
                    method: x.auth_method,
                    started: when(x.created_at),
                    last_seen: when(x.last_used_at),
                    impersonated: x.impersonator_id.is_some(),
                })
                .collect(),
            logins: s
                .recent_logins
                .into_iter()
                .map(|l| LoginItem {
                    when: when(l.created_at),
                    success: l.success,
                    method: l.method,
                    reason: l.reason.unwrap_or_default().replace('_', " "),
                    ip: l.ip_address.unwrap_or_default(),
                    device: device(l.user_agent.as_deref()),
                })
                .collect(),
            can_deactivate,
            notice: notice(&done),
        },
    )
}

#[derive(Serialize)]
struct ConfirmView {
    frame: Frame,
    id: Uuid,
    email: String,
    name: String,
}

/// "Deactivate this user?" — nothing changes until the form is posted.
pub async fn deactivate_page(me: Console<perm::UsersDelete>, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/admin/users");
    let authz = match Authz::<perm::UsersRead>::checked(me.authz.ctx.clone(), me.authz.tx) {
        Ok(a) => a,
        Err(e) => return render::api_error(e),
    };
    match users::get_user(authz, ApiPath(id)).await {
        Ok(ApiJson(u)) => render::ok(
            "admin_deactivate.html",
            ConfirmView {
                frame,
                id,
                name: format!("{} {}", u.first_name, u.last_name).trim().to_string(),
                email: u.email,
            },
        ),
        Err(e) => refused(e),
    }
}

pub async fn deactivate_submit(me: Console<perm::UsersDelete>, Path(id): Path<Uuid>) -> Response {
    match users::delete_user(me.authz, ApiPath(id)).await {
        Ok(_) => see_other(&format!("/admin/users/{id}?done=deactivated")),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    role_id: Uuid,
    /// `YYYY-MM-DD` from a date input; empty for no expiry.
    #[serde(default)]
    expires_on: String,
}

/// The assignment ends at the start of the day after `expires_on` (UTC), so
/// the role is held through the whole date given.
pub(in crate::console) fn expiry(expires_on: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    let s = expires_on.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let date = Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|_| ApiError::invalid("expires_on", "must be a date (YYYY-MM-DD)"))?;
    let next = date
        .next_day()
        .ok_or_else(|| ApiError::invalid("expires_on", "is too far away"))?;
    Ok(Some(next.with_time(Time::MIDNIGHT).assume_utc()))
}

pub async fn assign_submit(
    me: Console<perm::RolesAssign>,
    Path(id): Path<Uuid>,
    Form(form): Form<AssignForm>,
) -> Response {
    let expires_at = match expiry(&form.expires_on) {
        Ok(e) => e,
        Err(e) => return refused(e),
    };
    let input = AssignRole {
        role_id: form.role_id,
        expires_at,
    };
    match roles::assign_role(me.authz, ApiPath(id), ApiJson(input)).await {
        Ok(_) => see_other(&format!("/admin/users/{id}?done=assigned")),
        Err(e) => refused(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_date_lasts_the_whole_day() {
        assert_eq!(expiry("").unwrap(), None);
        let at = expiry("2030-01-31").unwrap().unwrap();
        assert_eq!(at.to_string(), "2030-02-01 0:00:00.0 +00:00:00");
        assert!(expiry("31/01/2030").is_err());
    }
}
