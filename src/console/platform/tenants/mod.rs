//! `/platform/tenants`: the list (search, status filter, paging), creating a
//! tenant with its first administrator, a tenant's page (stats, limits,
//! identity providers, recent audit rows, "act as"), activate/deactivate, and
//! deletion behind a confirmation where the slug must be typed. Each action is
//! the handler of the matching `/api/v1/tenants` route.

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Done, Platform, notice, refused};
use crate::{
    admin::overview,
    app::AppState,
    audit::handlers::AuditFilter,
    console::{
        account::when,
        render::{self, Frame},
        see_other,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::PageParams,
    tenants::{
        handlers,
        model::{LimitsInput, NewTenant, TenantFilter, TenantView, UpdateTenant},
        stats::TenantStats,
    },
};

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

#[derive(Serialize)]
struct ProviderItem {
    provider: String,
    client_id: String,
    domains: String,
    auto_provision: bool,
    default_role: String,
    enabled: bool,
}

#[derive(Serialize)]
struct AuditItem {
    when: String,
    action: String,
    resource: String,
    impersonated: bool,
    detail: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct UserChoice {
    id: Uuid,
    email: String,
}

#[derive(Serialize)]
struct TenantPageView {
    frame: Frame,
    t: TenantView,
    created: String,
    stats: TenantStats,
    storage_used: String,
    storage_limit: String,
    storage_limit_gib: String,
    providers: Vec<ProviderItem>,
    audit: Vec<AuditItem>,
    users: Vec<UserChoice>,
    notice: Option<&'static str>,
}

/// A short, readable form of an audit row's new values.
fn summary(values: Option<&Value>) -> String {
    let Some(Value::Object(map)) = values else {
        return String::new();
    };
    let text = map
        .iter()
        // Ids mean little to a person; names, emails, reasons and values do.
        .filter(|(k, v)| *k != "id" && !k.ends_with("_id") && !v.is_null() && !v.is_object() && !v.is_array())
        .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect::<Vec<_>>()
        .join(", ");
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// The active users of the tenant one can act as (super admins never).
async fn act_as_choices(me: &Platform, tenant: Uuid) -> Result<Vec<UserChoice>, ApiError> {
    let mut sa = me.handle().await?;
    Ok(sqlx::query_as(
        "SELECT id, email FROM users WHERE tenant_id = $1 AND is_active AND NOT is_super_admin \
         ORDER BY email LIMIT 200",
    )
    .bind(tenant)
    .fetch_all(&mut *sa.tx)
    .await?)
}

pub async fn tenant_page(me: Platform, Path(id): Path<Uuid>, Query(done): Query<Done>) -> Response {
    let audit_filter = AuditFilter {
        tenant_id: Some(id),
        page: PageParams { page: 1, page_size: 15 },
        ..AuditFilter::default()
    };
    let (tenant, stats, providers, audit, users) = tokio::join!(
        async { handlers::get_tenant(me.handle().await?, ApiPath(id)).await },
        async { handlers::tenant_stats(me.handle().await?, ApiPath(id)).await },
        async {
            let page = PageParams { page: 1, page_size: 50 };
            crate::tenants::identity_providers::list_identity_providers(me.handle().await?, ApiPath(id), ApiQuery(page))
                .await
        },
        async { overview::audit_logs(me.handle().await?, ApiQuery(audit_filter)).await },
        act_as_choices(&me, id),
    );
    let (t, stats, providers, audit, users) = match (tenant, stats, providers, audit, users) {
        (Ok(t), Ok(s), Ok(p), Ok(a), Ok(u)) => (t.0, s.0, p.0, a.0, u),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (_, _, _, Err(e), _) | (.., Err(e)) => {
            return refused(e);
        }
    };
    let view = TenantPageView {
        frame: me.frame("/platform/tenants"),
        storage_used: bytes(t.storage_used_bytes),
        storage_limit: bytes(t.max_storage_bytes),
        storage_limit_gib: format!("{}", (t.max_storage_bytes as f64 / GIB * 1000.0).round() / 1000.0),
        providers: providers
            .items
            .into_iter()
            .map(|p| ProviderItem {
                provider: format!("{:?}", p.provider),
                client_id: p.client_id.unwrap_or_default(),
                domains: p.allowed_domains.join(", "),
                auto_provision: p.auto_provision_users,
                default_role: p.default_role_name,
                enabled: p.is_enabled,
            })
            .collect(),
        audit: audit
            .items
            .into_iter()
            .map(|a| AuditItem {
                when: when(a.created_at),
                resource: a.resource_type,
                impersonated: a.impersonator_id.is_some(),
                detail: summary(a.new_values.as_ref().or(a.old_values.as_ref())),
                action: a.action,
            })
            .collect(),
        users,
        stats,
        created: when(t.created_at),
        t,
        notice: notice(&done),
    };
    render::ok("platform_tenant.html", view)
}

#[derive(Deserialize)]
pub struct LimitsForm {
    #[serde(default)]
    max_users: String,
    #[serde(default)]
    max_projects: String,
    /// GiB, decimals allowed.
    #[serde(default)]
    max_storage_gib: String,
}

/// A whole number from a form field, or a 422 naming the field.
fn whole(field: &str, raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::invalid(field, "must be a whole number"))
}

impl LimitsForm {
    fn limits(&self) -> Result<LimitsInput, ApiError> {
        let gib: f64 = self
            .max_storage_gib
            .trim()
            .parse()
            .ok()
            .filter(|g: &f64| g.is_finite())
            .ok_or_else(|| ApiError::invalid("storage limit", "must be a number of GiB"))?;
        Ok(LimitsInput {
            max_users: Some(whole("user limit", &self.max_users)?),
            max_projects: Some(whole("project limit", &self.max_projects)?),
            max_storage_bytes: Some((gib * GIB).round() as i64),
        })
    }
}

/// Saves the limits through the handler of `PUT /tenants/{id}`.
pub async fn limits_submit(me: Platform, Path(id): Path<Uuid>, Form(form): Form<LimitsForm>) -> Response {
    let limits = match form.limits() {
        Ok(l) => l,
        Err(e) => return refused(e),
    };
    let input = UpdateTenant {
        limits: Some(limits),
        ..UpdateTenant::default()
    };
    let result = match me.handle().await {
        Ok(sa) => handlers::update_tenant(sa, ApiPath(id), ApiJson(input)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other(&format!("/platform/tenants/{id}?done=limits")),
        Err(e) => refused(e),
    }
}

pub async fn activate_submit(me: Platform, Path(id): Path<Uuid>) -> Response {
    let result = match me.handle().await {
        Ok(sa) => handlers::activate_tenant(sa, ApiPath(id)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other(&format!("/platform/tenants/{id}?done=activated")),
        Err(e) => refused(e),
    }
}

pub async fn deactivate_submit(me: Platform, Path(id): Path<Uuid>) -> Response {
    let result = match me.handle().await {
        Ok(sa) => handlers::deactivate_tenant(sa, ApiPath(id)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other(&format!("/platform/tenants/{id}?done=deactivated")),
        Err(e) => refused(e),
    }
}

#[derive(Serialize)]
struct DeleteView {
    frame: Frame,
    t: TenantView,
    users: i64,
    projects: i64,
    error: Option<String>,
}

async fn delete_view(me: &Platform, id: Uuid, error: Option<String>) -> Result<DeleteView, ApiError> {
    let ApiJson(t) = handlers::get_tenant(me.handle().await?, ApiPath(id)).await?;
    let ApiJson(stats) = handlers::tenant_stats(me.handle().await?, ApiPath(id)).await?;
    Ok(DeleteView {
        frame: me.frame("/platform/tenants"),
        t,
        users: stats.users.total,
        projects: stats.projects,
        error,
    })
}

/// The confirmation page: what will be lost, and a field for the slug.
pub async fn delete_page(me: Platform, Path(id): Path<Uuid>) -> Response {
    match delete_view(&me, id, None).await {
        Ok(view) => render::ok("platform_tenant_delete.html", view),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm_slug: String,
}

/// Deletes the tenant (the handler of `DELETE /tenants/{id}`) once the typed
/// slug matches; otherwise the confirmation page again, nothing deleted.
pub async fn delete_submit(
    State(state): State<AppState>,
    me: Platform,
    Path(id): Path<Uuid>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let view = match delete_view(&me, id, None).await {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    if form.confirm_slug.trim() != view.t.slug {
        let error = format!(
            "The slug you typed does not match. Type {} exactly to delete this tenant.",
            view.t.slug
        );
        return render::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "platform_tenant_delete.html",
            DeleteView {
                error: Some(error),
                ..view
            },
        );
    }
    let result = match me.handle().await {
        Ok(sa) => handlers::delete_tenant(State(state), sa, ApiPath(id)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other("/platform/tenants?done=deleted"),
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

    #[test]
    fn audit_summary_leaves_out_ids_and_nested_values() {
        let v = serde_json::json!({"tenant_id": "x", "user_email": "a@b.test", "reason": "Ticket 1",
            "limits": {"max_users": 1}, "id": "y"});
        let text = summary(Some(&v));
        assert!(
            text.contains("reason: Ticket 1") && text.contains("user_email: a@b.test"),
            "{text}"
        );
        assert!(!text.contains("id:") && !text.contains("max_users"), "{text}");
        assert_eq!(summary(None), "");
    }

    #[test]
    fn limits_form_rejects_what_is_not_a_number() {
        let form = |u: &str, g: &str| LimitsForm {
            max_users: u.into(),
            max_projects: "5".into(),
            max_storage_gib: g.into(),
        };
        let l = form("10", "1.5").limits().unwrap();
        assert_eq!(l.max_users, Some(10));
        assert_eq!(l.max_storage_bytes, Some(1_610_612_736));
        assert!(form("ten", "1").limits().is_err());
        assert!(form("10", "NaN").limits().is_err());
    }
}
