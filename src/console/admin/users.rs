//! `/admin/users`: the tenant's users as a table (search, filters, sorting,
//! paging) through the API's `list_users`, and bulk actions through its
//! `bulk_action` with the per-row results shown.

use axum::{body::Bytes, extract::Query, response::Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Done, notice, refused};
use crate::{
    auth::Authz,
    console::{
        account::when,
        render::{self, Frame},
        session::Console,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiQuery},
    },
    pagination::PageParams,
    rbac::{Permission, perm, repo as roles_repo},
    users::{
        bulk, handlers as users,
        model::{BulkActionKind, BulkActionRequest, UserFilter},
    },
};

/// A date for a table cell (the user's page shows the time).
fn day(t: time::OffsetDateTime) -> String {
    when(t).split_whitespace().next().unwrap_or_default().to_string()
}

/// Rows per page of the table.
const PAGE_SIZE: i64 = 25;

/// The columns a person can sort by: (API sort key, heading).
const SORTABLE: &[(&str, &str)] = &[
    ("email", "Email"),
    ("last_name", "Name"),
    ("last_login_at", "Last sign-in"),
    ("created_at", "Created"),
];

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    search: String,
    /// `""`, `"true"` or `"false"`.
    #[serde(default)]
    active: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    sort: String,
    page: Option<i64>,
    done: Option<String>,
}

impl ListQuery {
    /// This listing's URL with `sort` and `page` replaced.
    fn href(&self, sort: &str, page: i64) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("search", self.search.as_str()),
            ("active", &self.active),
            ("role", &self.role),
            ("sort", sort),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/admin/users".into()
        } else {
            format!("/admin/users?{q}")
        }
    }
}

#[derive(Serialize)]
struct UserRow {
    id: Uuid,
    name: String,
    email: String,
    roles: String,
    active: bool,
    locked: bool,
    mfa: bool,
    last_login: String,
    created: String,
}

#[derive(Serialize)]
struct SortLink {
    label: &'static str,
    href: String,
    /// `ascending`/`descending` when the table is sorted by this column.
    sorted: Option<&'static str>,
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    rows: Vec<UserRow>,
    roles: Vec<String>,
    search: String,
    active: String,
    role: String,
    columns: Vec<SortLink>,
    total: i64,
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
    can_bulk: bool,
    can_invite: bool,
    notice: Option<&'static str>,
}

pub async fn list_page(me: Console<perm::UsersRead>, Query(q): Query<ListQuery>) -> Response {
    let frame = me.frame("/admin/users");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let roles = match roles_repo::list_roles(&mut tx, 100, 0).await {
        Ok((roles, _)) => roles.into_iter().map(|r| r.name).collect(),
        Err(e) => return render::api_error(e.into()),
    };
    let filter = UserFilter {
        search: Some(q.search.clone()).filter(|s| !s.trim().is_empty()),
        is_active: match q.active.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        role: Some(q.role.clone()).filter(|s| !s.is_empty()),
        sort: Some(q.sort.clone()).filter(|s| !s.is_empty()),
        page: PageParams {
            page: q.page.unwrap_or(1).max(1),
            page_size: PAGE_SIZE,
        },
    };
    let (can_bulk, can_invite) = (ctx.has(Permission::UsersUpdate), ctx.has(Permission::UsersInvite));
    let authz = match Authz::<perm::UsersRead>::checked(ctx, tx) {
        Ok(a) => a,
        Err(e) => return render::api_error(e),
    };
    let page = match users::list_users(authz, ApiQuery(filter)).await {
        Ok(ApiJson(page)) => page,
        Err(e) => return refused(e),
    };
    let columns = SORTABLE
        .iter()
        .map(|(key, label)| {
            let desc = format!("-{key}");
            let sorted = if q.sort == *key {
                Some("ascending")
            } else if q.sort == desc {
                Some("descending")
            } else {
                None
            };
            let next = if sorted == Some("ascending") {
                desc.as_str()
            } else {
                key
            };
            SortLink {
                label,
                href: q.href(next, 1),
                sorted,
            }
        })
        .collect();
    let pages = ((page.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let rows = page
        .items
        .into_iter()
        .map(|u| UserRow {
            name: format!("{} {}", u.first_name, u.last_name).trim().to_string(),
            roles: u.roles.join(", "),
            active: u.is_active,
            locked: u.is_locked,
            mfa: u.mfa_enabled,
            last_login: u.last_login_at.map(day).unwrap_or_else(|| "never".into()),
            created: day(u.created_at),
            email: u.email,
            id: u.id,
        })
        .collect();
    let done = Done { done: q.done.clone() };
    render::ok(
        "admin_users.html",
        ListView {
            frame,
            rows,
            roles,
            columns,
            total: page.total,
            prev: (page.page > 1).then(|| q.href(&q.sort, page.page - 1)),
            next: (page.page < pages).then(|| q.href(&q.sort, page.page + 1)),
            page: page.page,
            pages,
            search: q.search,
            active: q.active,
            role: q.role,
            can_bulk,
            can_invite,
            notice: notice(&done),
        },
    )
}

#[derive(Serialize)]
struct ResultRow {
    email: String,
    success: bool,
    status: u16,
    detail: String,
}

#[derive(Serialize)]
struct BulkView {
    frame: Frame,
    action: &'static str,
    rows: Vec<ResultRow>,
    succeeded: usize,
    failed: usize,
}

/// The checked rows (`user_ids`, repeated) and `action` of the table's form.
fn parse_bulk(body: &[u8]) -> Result<BulkActionRequest, ApiError> {
    let mut user_ids = Vec::new();
    let mut action = None;
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "user_ids" => {
                user_ids.push(Uuid::parse_str(&v).map_err(|_| ApiError::invalid("user_ids", "must be user ids"))?)
            }
            "action" => {
                action = Some(match &*v {
                    "activate" => BulkActionKind::Activate,
                    "deactivate" => BulkActionKind::Deactivate,
                    "terminate_sessions" => BulkActionKind::TerminateSessions,
                    "unlock" => BulkActionKind::Unlock,
                    _ => return Err(ApiError::invalid("action", "is not one of the offered actions")),
                })
            }
            _ => {}
        }
    }
    if user_ids.is_empty() {
        return Err(ApiError::invalid("selection", "is empty: tick at least one user"));
    }
    let action = action.ok_or_else(|| ApiError::invalid("action", "is required"))?;
    Ok(BulkActionRequest { user_ids, action })
}

fn action_label(a: BulkActionKind) -> &'static str {
    match a {
        BulkActionKind::Activate => "Activate",
        BulkActionKind::Deactivate => "Deactivate",
        BulkActionKind::TerminateSessions => "End sessions",
        BulkActionKind::Unlock => "Unlock",
    }
}

/// Runs the API's bulk action on the ticked users and shows each row's result.
pub async fn bulk_submit(me: Console<perm::UsersUpdate>, body: Bytes) -> Response {
    let frame = me.frame("/admin/users");
    let request = match parse_bulk(&body) {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let emails = match crate::users::repo::emails_by_id(&mut tx, &request.user_ids).await {
        Ok(e) => e,
        Err(e) => return render::api_error(e.into()),
    };
    let authz = match Authz::<perm::UsersUpdate>::checked(ctx, tx) {
        Ok(a) => a,
        Err(e) => return render::api_error(e),
    };
    let result = match bulk::bulk_action(authz, ApiJson(request)).await {
        Ok(ApiJson(r)) => r,
        Err(e) => return refused(e),
    };
    let rows = result
        .results
        .into_iter()
        .map(|r| ResultRow {
            email: emails.get(&r.user_id).cloned().unwrap_or_else(|| r.user_id.to_string()),
            success: r.success,
            status: r.status,
            detail: r.detail,
        })
        .collect();
    render::ok(
        "admin_bulk.html",
        BulkView {
            frame,
            action: action_label(result.action),
            rows,
            succeeded: result.succeeded,
            failed: result.failed,
        },
    )
}
