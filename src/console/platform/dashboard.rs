//! `/platform`: the numbers of `GET /admin/dashboard` and three charts —
//! growth (the API's growth analytics over 7/30/90/365 days, drawn as totals
//! over time), sign-ins and failures per day, and the email queue.

use axum::{extract::Query, response::Response};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};

use super::{
    Platform,
    charts::{self, Series},
    failed,
};
use crate::{
    admin::{
        overview::{self, Dashboard, GrowthPoint, GrowthQuery},
        repo as admin_repo,
    },
    console::render::{self, Frame},
    http::{ApiError, extract::ApiQuery},
};

/// The ranges the selector offers, in days.
const RANGES: [i64; 4] = [7, 30, 90, 365];
const DEFAULT_RANGE: i64 = 30;
const DAY_LABEL: &[BorrowedFormatItem<'static>] = format_description!("[month repr:short] [day]");

#[derive(Deserialize)]
pub struct DashboardQuery {
    days: Option<i64>,
}

#[derive(Serialize)]
struct Range {
    days: i64,
    current: bool,
}

#[derive(Serialize)]
struct DashboardView {
    frame: Frame,
    d: Dashboard,
    days: i64,
    ranges: Vec<Range>,
    added: [i64; 3],
    sign_ins: i64,
    failures: i64,
    growth_svg: String,
    sign_ins_svg: String,
    email_svg: String,
}

/// Totals over time from new-per-day counts: the value on day `i` is the
/// number of today's rows that existed then (`now` minus what came later).
fn totals_over_time(now: i64, added: &[i64]) -> Vec<i64> {
    let mut out = vec![0; added.len()];
    let mut later = 0;
    for i in (0..added.len()).rev() {
        out[i] = (now - later).max(0);
        later += added[i];
    }
    out
}

fn label(d: Date) -> String {
    d.format(DAY_LABEL).unwrap_or_default()
}

pub async fn dashboard_page(me: Platform, Query(q): Query<DashboardQuery>) -> Response {
    let days = q.days.filter(|d| RANGES.contains(d)).unwrap_or(DEFAULT_RANGE);
    let (dash, growth, logins) = tokio::join!(
        async { overview::dashboard(me.handle().await?).await },
        async {
            let query = GrowthQuery { days: Some(days) };
            overview::growth(me.handle().await?, ApiQuery(query)).await
        },
        async {
            let mut sa = me.handle().await?;
            Ok::<_, ApiError>(admin_repo::sign_ins_per_day(&mut sa.tx, days).await?)
        },
    );
    let (dash, growth, logins) = match (dash, growth, logins) {
        (Ok(d), Ok(g), Ok(l)) => (d.0, g.0, l),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return failed(e),
    };
    let series: &[GrowthPoint] = &growth.series;
    let labels: Vec<String> = series.iter().map(|p| label(p.date)).collect();
    let column = |f: fn(&GrowthPoint) -> i64| series.iter().map(f).collect::<Vec<_>>();
    let (tenants, users, projects) = (column(|p| p.tenants), column(|p| p.users), column(|p| p.projects));
    let added = [tenants.iter().sum(), users.iter().sum(), projects.iter().sum()];
    let growth_svg = charts::lines(
        &format!("Tenants, users and projects over the last {days} days"),
        &labels,
        &[
            Series {
                name: "Tenants",
                color: charts::AMBER,
                values: totals_over_time(dash.tenants.total, &tenants),
            },
            Series {
                name: "Users",
                color: charts::BLUE,
                values: totals_over_time(dash.users.total, &users),
            },
            Series {
                name: "Projects",
                color: charts::GREEN,
                values: totals_over_time(dash.projects, &projects),
            },
        ],
    );

    // One bar per day of the same range, zero where nobody signed in.
    let today = OffsetDateTime::now_utc().date();
    let day_list: Vec<Date> = (0..days).rev().map(|back| today - Duration::days(back)).collect();
    let per_day = |f: fn(&admin_repo::DaySignIns) -> i64| -> Vec<i64> {
        day_list
            .iter()
            .map(|d| logins.iter().find(|l| l.date == *d).map_or(0, f))
            .collect()
    };
    let (ok, bad) = (per_day(|l| l.succeeded), per_day(|l| l.failed));
    let sign_ins_svg = charts::stacked_bars(
        &format!("Sign-ins and failures per day over the last {days} days"),
        &day_list.iter().copied().map(label).collect::<Vec<_>>(),
        &[
            Series {
                name: "Signed in",
                color: charts::GREEN,
                values: ok.clone(),
            },
            Series {
                name: "Failed",
                color: charts::RED,
                values: bad.clone(),
            },
        ],
    );
    let q = &dash.email_queue;
    let email_svg = charts::bars(
        "Email queue by status",
        &[
            ("Pending", q.pending, charts::AMBER),
            ("Sent (24 h)", q.sent_24h, charts::GREEN),
            ("Dead", q.dead, charts::RED),
            ("Suppressed", q.suppressed, charts::GREY),
        ],
    );
    render::ok(
        "platform_dashboard.html",
        DashboardView {
            frame: me.frame("/platform"),
            d: dash,
            days,
            ranges: RANGES
                .iter()
                .map(|&r| Range {
                    days: r,
                    current: r == days,
                })
                .collect(),
            added,
            sign_ins: ok.iter().sum(),
            failures: bad.iter().sum(),
            growth_svg,
            sign_ins_svg,
            email_svg,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::totals_over_time;

    #[test]
    fn totals_count_back_from_today() {
        // 10 rows today; 3 came on the last day, 2 the day before.
        assert_eq!(totals_over_time(10, &[0, 2, 3]), [5, 7, 10]);
        assert_eq!(totals_over_time(0, &[]), Vec::<i64>::new());
    }
}
