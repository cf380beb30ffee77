//! `/platform/tenants`: the list (search, status filter, paging), creating a
//! tenant with its first administrator, a tenant's page (stats, limits,
//! identity providers, recent audit rows, "act as"), activate/deactivate, and
//! deletion behind a confirmation where the slug must be typed. Each action is
//! the handler of the matching `/api/v1/tenants` route.
//!
//! This file: the list and creation; `page.rs`: a tenant's page; `actions.rs`:
//! limits, activation and deletion.

mod actions;
mod page;

use axum::{
    Form,
    extract::{Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Done, Platform, notice, refused};
use crate::{
    app::AppState,
    console::{
        account::when,
        render::{self, Frame},
        see_other,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiQuery},
    },
    pagination::PageParams,
    tenants::{
        handlers,
        model::{NewTenant, TenantFilter},
    },
};

pub use actions::{activate_submit, deactivate_submit, delete_page, delete_submit, limits_submit};
pub use page::tenant_page;

const PAGE_SIZE: i64 = 25;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Bytes for people: "1.5 GiB", "320 KiB".
fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{:.1} {}", v, UNITS[unit]).replace(".0 ", " ")
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    search: String,
    /// `""`, `"true"` or `"false"`.
    #[serde(default)]
    active: String,
    page: Option<i64>,
    done: Option<String>,
}

impl ListQuery {
    fn href(&self, page: i64) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("search", self.search.as_str()), ("active", &self.active)] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &page.to_string());
        format!("/platform/tenants?{}", q.finish())
    }
}

#[derive(Serialize)]
struct TenantRowView {
    id: Uuid,
    name: String,
    slug: String,
    active: bool,
    system: bool,
    users: String,
    storage: String,
    created: String,
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    rows: Vec<TenantRowView>,
    search: String,
    active: String,
    total: i64,
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
    notice: Option<&'static str>,
}

pub async fn list_page(me: Platform, Query(q): Query<ListQuery>) -> Response {
    let filter = TenantFilter {
        search: Some(q.search.trim().to_string()).filter(|s| !s.is_empty()),
        is_active: match q.active.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        sort: Some("name".into()),
        page: PageParams {
            page: q.page.unwrap_or(1).max(1),
            page_size: PAGE_SIZE,
        },
    };
    let page = match me.handle().await {
        Ok(sa) => handlers::list_tenants(sa, ApiQuery(filter)).await,
        Err(e) => Err(e),
    };
    let page = match page {
        Ok(ApiJson(p)) => p,
        Err(e) => return refused(e),
    };
    let pages = ((page.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let rows = page
        .items
        .into_iter()
        .map(|t| TenantRowView {
            users: format!("{} / {}", t.user_count, t.max_users),
            storage: bytes(t.storage_used_bytes),
            created: when(t.created_at),
            id: t.id,
            name: t.name,
            slug: t.slug,
            active: t.is_active,
            system: t.is_system,
        })
        .collect();
    render::ok(
        "platform_tenants.html",
        ListView {
            frame: me.frame("/platform/tenants"),
            rows,
            total: page.total,
            prev: (page.page > 1).then(|| q.href(page.page - 1)),
            next: (page.page < pages).then(|| q.href(page.page + 1)),
            page: page.page,
            pages,
            notice: notice(&Done { done: q.done.clone() }),
            search: q.search,
            active: q.active,
        },
    )
}

/// The create form's fields, kept as typed when the form comes back.
#[derive(Deserialize, Serialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    admin_email: String,
    #[serde(default)]
    admin_first_name: String,
    #[serde(default)]
    admin_last_name: String,
    #[serde(default)]
    admin_password: String,
}

#[derive(Serialize)]
struct NewView<'a> {
    frame: Frame,
    form: &'a CreateForm,
    errors: Vec<String>,
}

pub async fn new_page(me: Platform) -> Response {
    let view = NewView {
        frame: me.frame("/platform/tenants"),
        form: &CreateForm::default(),
        errors: Vec::new(),
    };
    render::ok("platform_tenant_new.html", view)
}

/// Field errors as sentences ("The admin email must be a valid email address.").
fn sentences(e: &ApiError) -> Vec<String> {
    match e {
        ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("The {} {}.", f.field.replace(['_', '.'], " "), f.message))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// Creates the tenant and its first admin (who gets a set-password email when
/// no password is given), through the handler of `POST /tenants`.
pub async fn create_submit(State(state): State<AppState>, me: Platform, Form(form): Form<CreateForm>) -> Response {
    let input = NewTenant {
        name: form.name.clone(),
        slug: form.slug.trim().to_lowercase(),
        admin_email: form.admin_email.clone(),
        admin_first_name: form.admin_first_name.trim().to_string(),
        admin_last_name: form.admin_last_name.trim().to_string(),
        admin_password: Some(form.admin_password.clone()).filter(|p| !p.is_empty()),
        settings: None,
        limits: None,
    };
    let created = match me.handle().await {
        Ok(sa) => handlers::create_tenant(State(state), sa, ApiJson(input)).await,
        Err(e) => Err(e),
    };
    match created {
        Ok((_, ApiJson(c))) => see_other(&format!("/platform/tenants/{}?done=created", c.tenant.id)),
        Err(e @ (ApiError::Validation(_) | ApiError::Conflict { .. })) => {
            let status = e.status();
            let view = NewView {
                frame: me.frame("/platform/tenants"),
                errors: sentences(&e),
                form: &CreateForm {
                    admin_password: String::new(),
                    ..form
                },
            };
            render::page(status, "platform_tenant_new.html", view)
        }
        Err(e) => refused(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(10 * 1024 * 1024 * 1024), "10 GiB");
        assert_eq!(bytes(1536 * 1024), "1.5 MiB");
    }
}
