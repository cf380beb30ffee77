//! `/platform/security`: threats (credential stuffing by IP, accounts under
//! attack, lockouts, impersonations), problematic users with "Unlock", the
//! email suppression list with "Remove", and maintenance status with "Run
//! cleanup now" (its result page lists what each rule removed). Each part is
//! the handler of the matching `/api/v1/admin` route.

use axum::{
    Form,
    extract::{Path, Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Done, Platform, notice, refused};
use crate::{
    admin::{
        email_suppressions::{self, SuppressionFilter},
        maintenance,
        security::{self, ProblematicQuery, ThreatQuery},
    },
    app::AppState,
    console::{
        account::when,
        render::{self, Frame},
        see_other,
    },
    http::extract::{ApiJson, ApiPath, ApiQuery},
    pagination::PageParams,
};

/// The look-back windows offered for threats, in minutes.
const WINDOWS: [(i64, &str); 3] = [(60, "last hour"), (1440, "last day"), (10080, "last week")];
const PAGE_SIZE: i64 = 20;

#[derive(Deserialize)]
pub struct SecurityQuery {
    window: Option<i64>,
    page: Option<i64>,
    done: Option<String>,
}

#[derive(Serialize)]
struct Window {
    minutes: i64,
    label: &'static str,
    current: bool,
}

#[derive(Serialize)]
struct Stuffing {
    ip: String,
    failures: i64,
    emails: i64,
    tenants: i64,
    first_seen: String,
    last_seen: String,
}

#[derive(Serialize)]
struct Attacked {
    email: String,
    failures: i64,
    ips: i64,
    last_attempt: String,
}

#[derive(Serialize)]
struct Impersonation {
    tenant: String,
    user: String,
    by: String,
    reason: String,
    started: String,
    active: bool,
}

#[derive(Serialize)]
struct Problem {
    user_id: Uuid,
    tenant: String,
    email: String,
    reasons: Vec<String>,
    failures: i32,
    locked_until: Option<String>,
    can_unlock: bool,
}

#[derive(Serialize)]
struct Suppression {
    email: String,
    reason: String,
    since: String,
}

#[derive(Serialize)]
struct Rule {
    rule: String,
    removed: i64,
    ran_at: String,
    retention: String,
}

#[derive(Serialize)]
struct SecurityView {
    frame: Frame,
    notice: Option<&'static str>,
    windows: Vec<Window>,
    window_label: &'static str,
    stuffing: Vec<Stuffing>,
    attacked: Vec<Attacked>,
    impersonations: Vec<Impersonation>,
    problems: Vec<Problem>,
    problems_total: i64,
    prev: Option<String>,
    next: Option<String>,
    suppressions: Vec<Suppression>,
    suppressions_total: i64,
    last_cleanup: Option<String>,
    rules: Vec<Rule>,
    database: String,
    pending_migrations: String,
}

pub async fn security_page(State(state): State<AppState>, me: Platform, Query(q): Query<SecurityQuery>) -> Response {
    let window = q
        .window
        .filter(|w| WINDOWS.iter().any(|(m, _)| m == w))
        .unwrap_or(WINDOWS[0].0);
    let page = q.page.unwrap_or(1).max(1);
    let (threats, problems, suppressions, status) = tokio::join!(
        async {
            let query = ThreatQuery {
                window_minutes: Some(window),
                min_distinct_emails: None,
                min_failures: None,
            };
            security::threats(me.handle().await?, ApiQuery(query)).await
        },
        async {
            let query = ProblematicQuery {
                reason: None,
                tenant_id: None,
                page: PageParams {
                    page,
                    page_size: PAGE_SIZE,
                },
            };
            security::problematic_users(me.handle().await?, ApiQuery(query)).await
        },
        async {
            let filter = SuppressionFilter {
                page: PageParams { page: 1, page_size: 50 },
                ..SuppressionFilter::default()
            };
            email_suppressions::list_suppressions(me.handle().await?, ApiQuery(filter)).await
        },
        async { maintenance::status(State(state.clone()), me.handle().await?).await },
    );
    let (threats, problems, suppressions, status) = match (threats, problems, suppressions, status) {
        (Ok(t), Ok(p), Ok(s), Ok(m)) => (t.0, p.0, s.0, m.0),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return refused(e),
    };
    let href = |p: i64| format!("/platform/security?window={window}&page={p}#problems");
    let pages = ((problems.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let view = SecurityView {
        frame: me.frame("/platform/security"),
        notice: notice(&Done { done: q.done }),
        windows: WINDOWS
            .iter()
            .map(|&(minutes, label)| Window {
                minutes,
                label,
                current: minutes == window,
            })
            .collect(),
        window_label: WINDOWS.iter().find(|w| w.0 == window).map_or("", |w| w.1),
        stuffing: threats
            .credential_stuffing
            .into_iter()
            .map(|s| Stuffing {
                ip: s.ip_address,
                failures: s.failures,
                emails: s.distinct_emails,
                tenants: s.distinct_tenants,
                first_seen: when(s.first_seen),
                last_seen: when(s.last_seen),
            })
            .collect(),
        attacked: threats
            .accounts_under_attack
            .into_iter()
            .map(|a| Attacked {
                email: a.email,
                failures: a.failures,
                ips: a.distinct_ips,
                last_attempt: when(a.last_attempt),
            })
            .collect(),
        impersonations: threats
            .impersonations
            .into_iter()
            .map(|i| Impersonation {
                tenant: i.tenant_slug,
                user: i.user_email,
                by: i.impersonator_email.unwrap_or_default(),
                reason: i.reason.unwrap_or_default(),
                started: when(i.started_at),
                active: i.active,
            })
            .collect(),
        problems: problems
            .items
            .into_iter()
            .map(|u| Problem {
                can_unlock: u.reasons.iter().any(|r| r == "locked" || r == "many_failures"),
                user_id: u.user_id,
                tenant: u.tenant_slug,
                email: u.email,
                reasons: u.reasons.iter().map(|r| r.replace('_', " ")).collect(),
                failures: u.failed_login_count,
                locked_until: u.locked_until.map(when),
            })
            .collect(),
        problems_total: problems.total,
        prev: (problems.page > 1).then(|| href(problems.page - 1)),
        next: (problems.page < pages).then(|| href(problems.page + 1)),
        suppressions_total: suppressions.total,
        suppressions: suppressions
            .items
            .into_iter()
            .map(|s| Suppression {
                email: s.email,
                reason: s.reason,
                since: when(s.created_at),
            })
            .collect(),
        last_cleanup: status.last_cleanup.map(|r| when(r.ran_at)),
        rules: status
            .rules
            .into_iter()
            .map(|r| Rule {
                rule: r.rule.replace('_', " "),
                removed: r.removed,
                ran_at: when(r.ran_at),
                retention: r.retention_days.map_or_else(|| "—".into(), |d| format!("{d} days")),
            })
            .collect(),
        database: format!("{:.1} MiB", status.database_bytes as f64 / 1048576.0),
        pending_migrations: status
            .pending_migrations
            .map_or_else(|| "unknown".into(), |n| n.to_string()),
    };
    render::ok("platform_security.html", view)
}

/// Clears a user's lock and failure count (the handler of `POST /admin/users/{id}/unlock`).
pub async fn unlock_submit(me: Platform, Path(id): Path<Uuid>) -> Response {
    let result = match me.handle().await {
        Ok(sa) => security::unlock_user(sa, ApiPath(id)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other("/platform/security?done=unlocked#problems"),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    email: String,
}

/// Takes an address off the suppression list (the handler of `DELETE /admin/email/suppressions/{email}`).
pub async fn remove_suppression_submit(me: Platform, Form(form): Form<RemoveForm>) -> Response {
    let result = match me.handle().await {
        Ok(sa) => email_suppressions::delete_suppression(sa, ApiPath(form.email)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other("/platform/security?done=removed#suppressions"),
        Err(e) => refused(e),
    }
}

#[derive(Serialize)]
struct Removed {
    rule: String,
    count: u64,
}

#[derive(Serialize)]
struct CleanupView {
    frame: Frame,
    ran_at: String,
    total: u64,
    removed: Vec<Removed>,
}

/// Runs the cleanup now (the handler of `POST /admin/maintenance/cleanup`)
/// and shows what each rule removed.
pub async fn cleanup_submit(State(state): State<AppState>, me: Platform) -> Response {
    let result = match me.handle().await {
        Ok(sa) => maintenance::cleanup(State(state), sa).await,
        Err(e) => Err(e),
    };
    let run = match result {
        Ok(ApiJson(run)) => run,
        Err(e) => return refused(e),
    };
    let mut removed: Vec<Removed> = match &run.counts {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| Removed {
                rule: k.replace('_', " "),
                count: v.as_u64().unwrap_or(0),
            })
            .collect(),
        _ => Vec::new(),
    };
    removed.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
    render::ok(
        "platform_cleanup.html",
        CleanupView {
            frame: me.frame("/platform/security"),
            ran_at: when(run.ran_at),
            total: run.total,
            removed,
        },
    )
}
