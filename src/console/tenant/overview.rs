//! `/overview` (users:read, as the API's `GET /users/stats`): the tenant's
//! users, projects and storage against its limits, as bars. Users through
//! `user_stats`; projects and storage through `GET /projects/stats`'s handler
//! when the caller also holds projects:read.

use axum::{extract::State, response::Response};
use serde::Serialize;

use super::{another, human_bytes, refused};
use crate::{
    app::AppState,
    console::{
        render::{self, Frame},
        session::Console,
    },
    http::extract::ApiJson,
    projects::insights as project_insights,
    rbac::{Permission, perm},
    users::insights as user_insights,
};

/// One usage bar: `used` of `limit`, coloured by `<meter>` above 80 %.
#[derive(Debug, Serialize)]
struct Usage {
    id: &'static str,
    label: &'static str,
    used: i64,
    limit: i64,
    /// 80 % and 95 % of the limit: above them the bar turns amber, then red.
    high: i64,
    low: i64,
    text: String,
}

impl Usage {
    fn new(id: &'static str, label: &'static str, used: i64, limit: i64, shown: impl Fn(i64) -> String) -> Self {
        let percent = if limit > 0 {
            (used as f64 * 100.0 / limit as f64).round() as i64
        } else {
            0
        };
        Usage {
            id,
            label,
            used,
            limit: limit.max(1),
            low: limit * 80 / 100,
            high: limit * 95 / 100,
            text: format!("{} of {} ({percent} %)", shown(used), shown(limit)),
        }
    }
}

#[derive(Serialize)]
struct Count {
    label: String,
    value: i64,
}

#[derive(Serialize)]
struct OverviewView {
    frame: Frame,
    bars: Vec<Usage>,
    users: Vec<Count>,
    roles: Vec<Count>,
    /// `None` without projects:read.
    projects: Option<Vec<Count>>,
    documents: Option<Vec<Count>>,
}

fn counts<'a>(items: impl IntoIterator<Item = (&'a String, &'a i64)>) -> Vec<Count> {
    items
        .into_iter()
        .map(|(k, v)| Count {
            label: k.replace('_', " "),
            value: *v,
        })
        .collect()
}

pub async fn overview_page(State(state): State<AppState>, me: Console<perm::UsersRead>) -> Response {
    let frame = me.frame("/overview");
    let ctx = me.authz.ctx.clone();
    let users = match user_insights::user_stats(me.authz).await {
        Ok(ApiJson(s)) => s,
        Err(e) => return refused(e),
    };
    let plain = |n: i64| n.to_string();
    let mut bars = vec![Usage::new(
        "usage-users",
        "Active users",
        users.active,
        users.max_users,
        plain,
    )];
    let (mut projects, mut documents) = (None, None);
    if ctx.has(Permission::ProjectsRead) {
        let stats = match another::<perm::ProjectsRead>(&state, &ctx).await {
            Ok(authz) => project_insights::stats(authz).await,
            Err(e) => Err(e),
        };
        let stats = match stats {
            Ok(ApiJson(s)) => s,
            Err(e) => return refused(e),
        };
        bars.push(Usage::new(
            "usage-projects",
            "Projects",
            stats.projects.total,
            stats.projects.limit,
            plain,
        ));
        bars.push(Usage::new(
            "usage-storage",
            "Storage",
            stats.storage.used_bytes,
            stats.storage.limit_bytes,
            human_bytes,
        ));
        projects = Some(counts(&stats.projects.by_status));
        documents = Some(counts(&stats.documents.by_status));
    }
    let user_counts = [
        ("Total", users.total),
        ("Active", users.active),
        ("Deactivated", users.inactive),
        ("Locked", users.locked),
        ("Two-factor on", users.mfa_enabled),
        ("Email not verified", users.email_unverified),
        ("Sign-ins, last 24 h", users.sign_ins.successful_24h),
        ("Failed sign-ins, last 24 h", users.sign_ins.failed_24h),
        ("Sign-ins, last 7 days", users.sign_ins.successful_7d),
        ("Failed sign-ins, last 7 days", users.sign_ins.failed_7d),
    ]
    .into_iter()
    .map(|(label, value)| Count {
        label: label.into(),
        value,
    })
    .collect();
    render::ok(
        "tenant_overview.html",
        OverviewView {
            frame,
            bars,
            users: user_counts,
            roles: counts(&users.by_role),
            projects,
            documents,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_says_how_full_it_is() {
        let u = Usage::new("u", "Users", 45, 50, |n| n.to_string());
        assert_eq!(u.text, "45 of 50 (90 %)");
        assert_eq!((u.low, u.high), (40, 47));
        let s = Usage::new("s", "Storage", 0, 0, human_bytes);
        assert_eq!((s.limit, s.text.as_str()), (1, "0 bytes of 0 bytes (0 %)"));
    }
}
