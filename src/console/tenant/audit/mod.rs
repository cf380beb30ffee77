//! `/audit` (audit:read): the tenant's audit log through the API's
//! `list_audit_logs` (actor, action, resource type and day filters; paging),
//! one row's page with its old → new values as a diff, and "Verify chain"
//! through `audit::verify_chain`, the function behind the API's
//! `/admin/audit/verify`, on the caller's own tenant.

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, Time, macros::format_description};
use uuid::Uuid;

use self::diff::{DiffLine, diff};
use super::{Pager, another, href, refused};
use crate::{
    app::AppState,
    audit::{
        self,
        handlers::{self as audit_api, AuditFilter, AuditLogView},
    },
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
    rbac::perm,
};

mod diff;

type Auditor = Console<perm::AuditRead>;

/// Rows per page.
const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// The actor's email.
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    resource_type: String,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, to the end of that day (UTC).
    #[serde(default)]
    to: String,
    page: Option<i64>,
}

/// A date field as the start of its day (UTC), or a validation error naming it.
fn day_start(field: &str, value: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    Date::parse(value.trim(), format_description!("[year]-[month]-[day]"))
        .map(|d| Some(d.with_time(Time::MIDNIGHT).assume_utc()))
        .map_err(|_| ApiError::invalid(field, "must be a date such as 2026-01-31"))
}

#[derive(Serialize)]
struct Row {
    id: Uuid,
    when: String,
    actor: String,
    impersonated: bool,
    action: String,
    resource: String,
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    actor: String,
    action: String,
    resource_type: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    total: i64,
    pager: Pager,
    error: Option<String>,
}

/// Emails of the given users (a machine principal or a deleted user has none).
async fn emails(authz: Authz<perm::AuditRead>, ids: Vec<Uuid>) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let mut tx = authz.tx;
    crate::users::repo::emails_by_id(&mut tx, &ids).await
}

fn actor_label(row: &AuditLogView, emails: &HashMap<Uuid, String>) -> String {
    match row.actor_id {
        Some(id) => emails.get(&id).cloned().unwrap_or_else(|| id.to_string()),
        None => "system".into(),
    }
}

fn resource_label(row: &AuditLogView) -> String {
    match &row.resource_id {
        Some(id) => format!("{} {id}", row.resource_type),
        None => row.resource_type.clone(),
    }
}

pub async fn list_page(State(state): State<AppState>, me: Auditor, Query(q): Query<ListQuery>) -> Response {
    let frame = me.frame("/audit");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let mut error = None;
    let (from, to) = match (day_start("from", &q.from), day_start("to", &q.to)) {
        (Ok(f), Ok(t)) => (f, t.map(|t| t + Duration::days(1) - Duration::microseconds(1))),
        (Err(e), _) | (_, Err(e)) => {
            error = Some(crate::console::admin::field_message(&e));
            (None, None)
        }
    };
    let mut user_id = None;
    if !q.actor.trim().is_empty() {
        match crate::users::repo::find_id_by_email(&mut tx, q.actor.trim()).await {
            Ok(Some(id)) => user_id = Some(id),
            // Nobody by that email: a filter matching no row.
            Ok(None) => user_id = Some(Uuid::nil()),
            Err(e) => return render::api_error(e.into()),
        }
    }
    let filter = AuditFilter {
        tenant_id: None,
        user_id,
        action: Some(q.action.trim().to_string()).filter(|s| !s.is_empty()),
        resource_type: Some(q.resource_type.trim().to_string()).filter(|s| !s.is_empty()),
        from,
        to,
        page: PageParams {
            page: q.page.unwrap_or(1).max(1),
            page_size: PAGE_SIZE,
        },
    };
    let authz = match Authz::<perm::AuditRead>::checked(ctx.clone(), tx) {
        Ok(a) => a,
        Err(e) => return render::api_error(e),
    };
    let page = match audit_api::list_audit_logs(authz, ApiQuery(filter)).await {
        Ok(ApiJson(p)) => p,
        Err(e) => return refused(e),
    };
    let ids = page.items.iter().filter_map(|r| r.actor_id).collect();
    let emails = match another(&state, &ctx).await {
        Ok(a) => emails(a, ids).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let emails = match emails {
        Ok(e) => e,
        Err(e) => return render::api_error(e),
    };
    let filters = [
        ("actor", q.actor.as_str()),
        ("action", &q.action),
        ("resource_type", &q.resource_type),
        ("from", &q.from),
        ("to", &q.to),
    ];
    let pager = Pager::new(page.page, page.total, PAGE_SIZE, |n| href("/audit", &filters, n));
    let rows = page
        .items
        .iter()
        .map(|r| Row {
            id: r.id,
            when: when(r.created_at),
            actor: actor_label(r, &emails),
            impersonated: r.impersonator_id.is_some(),
            action: r.action.clone(),
            resource: resource_label(r),
        })
        .collect();
    render::ok(
        "tenant_audit.html",
        ListView {
            frame,
            actor: q.actor,
            action: q.action,
            resource_type: q.resource_type,
            from: q.from,
            to: q.to,
            rows,
            total: page.total,
            pager,
            error,
        },
    )
}

#[derive(Serialize)]
struct RowView {
    frame: Frame,
    when: String,
    actor: String,
    impersonator: Option<String>,
    action: String,
    resource: String,
    ip: String,
    user_agent: String,
    request_id: String,
    seq: i64,
    hash: String,
    /// How many keys either side has; split into what changed (shown first)
    /// and what did not (folded).
    fields: usize,
    changed: Vec<DiffLine>,
    same: Vec<DiffLine>,
}

pub async fn row_page(State(state): State<AppState>, me: Auditor, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/audit");
    let ctx = me.authz.ctx.clone();
    let mut tx = me.authz.tx;
    let row = match audit::repo::find(&mut tx, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return refused(ApiError::not_found("Audit entry")),
        Err(e) => return render::api_error(e.into()),
    };
    let ids = [row.actor_id, row.impersonator_id].into_iter().flatten().collect();
    let emails = match another(&state, &ctx).await {
        Ok(a) => emails(a, ids).await,
        Err(e) => return render::api_error(e),
    };
    let emails = match emails {
        Ok(e) => e,
        Err(e) => return render::api_error(e.into()),
    };
    let (same, changed): (Vec<DiffLine>, Vec<DiffLine>) = diff(row.old_values.as_ref(), row.new_values.as_ref())
        .into_iter()
        .partition(|l| l.change == "same");
    render::ok(
        "tenant_audit_row.html",
        RowView {
            frame,
            when: when(row.created_at),
            actor: actor_label(&row, &emails),
            // A super admin is in the system tenant: shown by id.
            impersonator: row
                .impersonator_id
                .map(|i| emails.get(&i).cloned().unwrap_or_else(|| i.to_string())),
            resource: resource_label(&row),
            action: row.action,
            ip: row.ip_address.unwrap_or_default(),
            user_agent: row.user_agent.unwrap_or_default(),
            request_id: row.request_id.unwrap_or_default(),
            seq: row.seq,
            hash: row.hash,
            fields: changed.len() + same.len(),
            changed,
            same,
        },
    )
}

#[derive(Serialize)]
struct VerifyView {
    frame: Frame,
    valid: bool,
    rows_checked: i64,
    first_broken_id: Option<Uuid>,
    first_broken_seq: Option<i64>,
}

/// Recomputes every hash of the caller's tenant's chain.
pub async fn verify_submit(me: Auditor) -> Response {
    let frame = me.frame("/audit");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    match audit::verify_chain(&mut tx, ctx.tenant_id.get()).await {
        Ok(v) => render::ok(
            "tenant_audit_verify.html",
            VerifyView {
                frame,
                valid: v.valid,
                rows_checked: v.rows_checked,
                first_broken_id: v.first_broken_id,
                first_broken_seq: v.first_broken_seq,
            },
        ),
        Err(e) => render::api_error(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_whole_utc_days() {
        let d = day_start("from", "2026-01-31").unwrap().unwrap();
        assert_eq!(d.unix_timestamp(), 1_769_817_600);
        assert!(day_start("from", "").unwrap().is_none());
        assert!(day_start("to", "31/01/2026").is_err());
    }
}
