//! A tenant's limits, activation and deletion (behind a confirmation where
//! the slug must be typed), each through the matching `/api/v1/tenants` handler.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::super::{Platform, refused};
use super::GIB;
use crate::{
    app::AppState,
    console::{
        render::{self, Frame},
        see_other,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath},
    },
    tenants::{
        handlers,
        model::{LimitsInput, TenantView, UpdateTenant},
    },
};

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
