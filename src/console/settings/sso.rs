//! `/admin/sso`: the tenant's own Microsoft Entra ID and Google Workspace
//! connections, through the service functions of the super-admin API
//! (`tenants::identity_providers`), so validation, sealing of the client
//! secret and audit rows are the same. The client secret is never shown back,
//! only whether one is set.
//!
//! "Test sign-in" is in [`super::sso_test`].

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{COPY_JS_URL, Done, confirm_page, fixable, messages, notice, refused};
use crate::{
    app::AppState,
    console::{
        render::{self, Frame},
        see_other,
        session::Console,
    },
    db::{TenantId, TenantTx},
    http::ApiError,
    oauth::{
        flow::callback_url,
        model::{CreateIdentityProvider, IdpRow, Provider, UpdateIdentityProvider},
        repo,
    },
    rbac::{perm, repo as roles_repo},
    tenants::identity_providers::{create_provider, delete_provider, update_provider},
};

pub(super) type Admin = Console<perm::TenantManage>;

pub(super) fn title(p: Provider) -> &'static str {
    match p {
        Provider::Microsoft => "Microsoft Entra ID",
        Provider::Google => "Google Workspace",
    }
}

/// The tenant's configuration of `provider`, if any.
pub(super) async fn configured(
    tx: &mut TenantTx,
    tenant: TenantId,
    provider: Provider,
) -> Result<Option<IdpRow>, ApiError> {
    let (rows, _) = repo::list(tx, tenant.get(), 10, 0).await?;
    Ok(rows.into_iter().find(|r| r.kind() == provider))
}

#[derive(Serialize)]
struct Card {
    key: &'static str,
    title: &'static str,
    configured: bool,
    enabled: bool,
    client_id: Option<String>,
    domains: String,
}

#[derive(Serialize)]
struct OverviewView {
    frame: Frame,
    copy_js: &'static str,
    redirect_uri: String,
    cards: Vec<Card>,
    notice: Option<&'static str>,
}

pub async fn overview_page(State(state): State<AppState>, me: Admin, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/admin/sso");
    let (tenant, mut tx) = (me.authz.ctx.tenant_id, me.authz.tx);
    let rows = match repo::list(&mut tx, tenant.get(), 10, 0).await {
        Ok((rows, _)) => rows,
        Err(e) => return render::api_error(e.into()),
    };
    let cards = [Provider::Microsoft, Provider::Google]
        .into_iter()
        .map(|p| {
            let row = rows.iter().find(|r| r.kind() == p);
            Card {
                key: p.as_str(),
                title: title(p),
                configured: row.is_some(),
                enabled: row.is_some_and(|r| r.is_enabled),
                client_id: row.and_then(|r| r.client_id.clone()),
                domains: row.map(|r| r.allowed_domains.join(", ")).unwrap_or_default(),
            }
        })
        .collect();
    let view = OverviewView {
        frame,
        copy_js: COPY_JS_URL.as_str(),
        redirect_uri: callback_url(&state.config),
        cards,
        notice: notice(&done),
    };
    render::ok("settings_sso.html", view)
}

/// The form's fields (checkboxes are present only when ticked).
#[derive(Default, Deserialize)]
pub(super) struct ProviderForm {
    #[serde(default)]
    client_id: String,
    /// Blank keeps the stored secret.
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    azure_tenant_id: String,
    /// Separated by commas, spaces or lines.
    #[serde(default)]
    allowed_domains: String,
    auto_provision: Option<String>,
    #[serde(default)]
    default_role: String,
    enabled: Option<String>,
}

impl ProviderForm {
    pub(super) fn from_row(row: &IdpRow) -> Self {
        ProviderForm {
            client_id: row.client_id.clone().unwrap_or_default(),
            client_secret: String::new(),
            azure_tenant_id: row.azure_tenant_id.clone().unwrap_or_default(),
            allowed_domains: row.allowed_domains.join(", "),
            auto_provision: row.auto_provision_users.then(String::new),
            default_role: row.default_role_name.clone(),
            enabled: row.is_enabled.then(String::new),
        }
    }

    fn domains(&self) -> Vec<String> {
        self.allowed_domains
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[derive(Serialize)]
pub(super) struct ProviderView {
    frame: Frame,
    copy_js: &'static str,
    key: &'static str,
    title: &'static str,
    is_microsoft: bool,
    configured: bool,
    has_secret: bool,
    client_id: String,
    azure_tenant_id: String,
    allowed_domains: String,
    auto_provision: bool,
    default_role: String,
    enabled: bool,
    roles: Vec<String>,
    redirect_uri: String,
    errors: Vec<String>,
    notice: Option<&'static str>,
}

/// What the provider page needs besides the form: roles to choose from and
/// the stored row.
pub(super) struct Context {
    frame: Frame,
    pub(super) provider: Provider,
    pub(super) row: Option<IdpRow>,
    roles: Vec<String>,
    redirect_uri: String,
}

pub(super) async fn context(state: &AppState, me: &mut Admin, provider: &str) -> Result<Context, ApiError> {
    let provider = Provider::from_path(provider)?;
    let tenant = me.authz.ctx.tenant_id;
    let row = configured(&mut me.authz.tx, tenant, provider).await?;
    let (roles, _) = roles_repo::list_roles(&mut me.authz.tx, 100, 0).await?;
    Ok(Context {
        frame: me.frame("/admin/sso"),
        provider,
        row,
        roles: roles.into_iter().map(|r| r.name).collect(),
        redirect_uri: callback_url(&state.config),
    })
}

pub(super) fn provider_view(
    c: Context,
    form: ProviderForm,
    errors: Vec<String>,
    notice: Option<&'static str>,
) -> ProviderView {
    ProviderView {
        frame: c.frame,
        copy_js: COPY_JS_URL.as_str(),
        key: c.provider.as_str(),
        title: title(c.provider),
        is_microsoft: c.provider == Provider::Microsoft,
        configured: c.row.is_some(),
        has_secret: c.row.as_ref().is_some_and(|r| r.client_secret_enc.is_some()),
        auto_provision: form.auto_provision.is_some(),
        enabled: form.enabled.is_some(),
        default_role: if form.default_role.is_empty() {
            "user".into()
        } else {
            form.default_role
        },
        client_id: form.client_id,
        azure_tenant_id: form.azure_tenant_id,
        allowed_domains: form.allowed_domains,
        roles: c.roles,
        redirect_uri: c.redirect_uri,
        errors,
        notice,
    }
}

pub(super) fn show(status: StatusCode, view: ProviderView) -> Response {
    render::page(status, "settings_sso_provider.html", view)
}

pub async fn provider_page(
    State(state): State<AppState>,
    mut me: Admin,
    Path(provider): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let c = match context(&state, &mut me, &provider).await {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let form = match &c.row {
        Some(row) => ProviderForm::from_row(row),
        // A new connection starts enabled, without provisioning.
        None => ProviderForm {
            enabled: Some(String::new()),
            ..Default::default()
        },
    };
    show(StatusCode::OK, provider_view(c, form, Vec::new(), notice(&done)))
}

pub async fn save_submit(
    State(state): State<AppState>,
    mut me: Admin,
    Path(provider): Path<String>,
    axum::Form(form): axum::Form<ProviderForm>,
) -> Response {
    let c = match context(&state, &mut me, &provider).await {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let tenant = ctx.tenant_id;
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let is_microsoft = c.provider == Provider::Microsoft;
    let saved = match &c.row {
        Some(row) => {
            let changes = UpdateIdentityProvider {
                client_id: Some(text(&form.client_id)),
                client_secret: text(&form.client_secret).map(Some),
                azure_tenant_id: text(&form.azure_tenant_id).filter(|_| is_microsoft),
                auto_provision_users: Some(form.auto_provision.is_some()),
                allowed_domains: Some(form.domains()),
                default_role_name: Some(form.default_role.clone()),
                is_enabled: Some(form.enabled.is_some()),
            };
            update_provider(&state, &mut tx, &ctx, tenant, row.id, changes).await
        }
        None => {
            let input = CreateIdentityProvider {
                client_id: text(&form.client_id),
                client_secret: text(&form.client_secret),
                azure_tenant_id: text(&form.azure_tenant_id).filter(|_| is_microsoft),
                auto_provision_users: form.auto_provision.is_some(),
                allowed_domains: form.domains(),
                default_role_name: Some(form.default_role.clone()),
                is_enabled: Some(form.enabled.is_some()),
            };
            create_provider(&state, &mut tx, &ctx, tenant, c.provider, input).await
        }
    };
    let saved = match saved {
        Ok(_) => tx.commit().await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => see_other(&format!("/admin/sso/{}?done=saved", c.provider.as_str())),
        Err(e) if fixable(&e) => {
            let status = e.status();
            let mut form = form;
            form.client_secret.clear();
            show(status, provider_view(c, form, messages(&e), None))
        }
        Err(e) => refused(e),
    }
}

pub async fn delete_page(me: Admin, Path(provider): Path<String>) -> Response {
    let provider = match Provider::from_path(&provider) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let text = format!(
        "Delete the {} connection? People can no longer sign in with it; their accounts stay, and can \
         use a password or another provider.",
        title(provider)
    );
    let action = format!("/admin/sso/{}/delete", provider.as_str());
    let back = format!("/admin/sso/{}", provider.as_str());
    confirm_page(
        me.frame("/admin/sso"),
        "Delete single sign-on connection",
        &text,
        &action,
        "Delete connection",
        &back,
    )
}

pub async fn delete_submit(me: Admin, Path(provider): Path<String>) -> Response {
    let provider = match Provider::from_path(&provider) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let row = match configured(&mut tx, ctx.tenant_id, provider).await {
        Ok(Some(row)) => row,
        Ok(None) => return see_other("/admin/sso"),
        Err(e) => return refused(e),
    };
    let deleted = match delete_provider(&mut tx, &ctx, ctx.tenant_id, row.id).await {
        Ok(()) => tx.commit().await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match deleted {
        Ok(()) => see_other("/admin/sso?done=deleted"),
        Err(e) => refused(e),
    }
}
