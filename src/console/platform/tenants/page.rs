//! A tenant's page: stats, limits, identity providers, recent audit rows and
//! the users one can "act as".

use axum::{
    extract::{Path, Query},
    response::Response,
};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::super::{Done, Platform, notice, refused};
use super::{GIB, bytes};
use crate::{
    admin::overview,
    audit::handlers::AuditFilter,
    console::{
        account::when,
        render::{self, Frame},
    },
    http::{
        ApiError,
        extract::{ApiPath, ApiQuery},
    },
    pagination::PageParams,
    tenants::{handlers, model::TenantView, repo as tenants_repo, stats::TenantStats},
};

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
    users: Vec<tenants_repo::UserChoice>,
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
async fn act_as_choices(me: &Platform, tenant: Uuid) -> Result<Vec<tenants_repo::UserChoice>, ApiError> {
    let mut sa = me.handle().await?;
    Ok(tenants_repo::act_as_choices(&mut sa.tx, tenant).await?)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
