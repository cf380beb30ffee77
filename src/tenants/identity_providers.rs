//! Identity-provider configuration per tenant: the super-admin routes
//! `/api/v1/tenants/{id}/identity-providers[...]`, and the service functions
//! ([`create_provider`], [`update_provider`], [`delete_provider`]) they share
//! with the tenant admin's own console page (so they take a bare connection: a
//! platform transaction here, the admin's tenant transaction there, and the
//! tenant as a [`TenantId`] from either). Client secrets are sealed with
//! the tenant id bound as context and never leave the server. The provider
//! model, its SQL and the sign-in flow that uses it live in `oauth`.

use axum::{extract::State, http::StatusCode};
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditEvent},
    auth::{AuthCtx, SuperAdmin},
    db::{PlatformTx, TenantId},
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    oauth::{
        model::{
            CreateIdentityProvider, IdentityProviderView, IdpRow, Provider, UpdateIdentityProvider, secret_context,
        },
        repo::{self, IdpValues},
    },
    pagination::{Page, PageParams},
    rbac::grants,
};

/// A syntactically valid DNS name with at least two labels and an alphabetic
/// (or IDNA `xn--`) top-level domain, e.g. `example.co.uk`.
pub fn is_domain(d: &str) -> bool {
    if d.is_empty() || d.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let tld = labels.last().copied().unwrap_or_default();
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && tld.len() >= 2
        && (tld.bytes().all(|b| b.is_ascii_lowercase()) || tld.starts_with("xn--"))
}

/// Lower-cases, trims and de-duplicates; records a field error per bad entry.
fn normalize_domains(domains: &[String], v: &mut Validator) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if !is_domain(&d) {
            v.push(
                &format!("allowed_domains[{i}]"),
                format!("`{d}` is not a valid domain name"),
            );
        } else if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

fn blank_to_none(s: Option<String>) -> Option<String> {
    s.map(|x| x.trim().to_string()).filter(|x| !x.is_empty())
}

/// Checks the merged configuration of a provider; `default_role_name` must
/// name a role of the tenant. A tenant's own admin may only make a role the
/// default that they could grant themselves (a super admin sets any).
async fn validate(
    conn: &mut sqlx::PgConnection,
    ctx: &AuthCtx,
    tenant: TenantId,
    provider: Provider,
    mut values: IdpValues,
    v: &mut Validator,
) -> ApiResult<IdpValues> {
    match provider {
        Provider::Microsoft => match values.azure_tenant_id.as_deref().map(Uuid::parse_str) {
            None => {
                v.push("azure_tenant_id", "is required for Microsoft Entra ID");
            }
            Some(Err(_)) => {
                v.push("azure_tenant_id", "must be the directory (tenant) ID, a GUID");
            }
            // Stored hyphenated lower-case: the form of the token's `tid` claim.
            Some(Ok(id)) => values.azure_tenant_id = Some(id.to_string()),
        },
        Provider::Google => {}
    }
    if values.client_id.as_ref().is_some_and(|c| c.len() > 255) {
        v.push("client_id", "must be at most 255 characters");
    }
    if values.default_role_name.is_empty() {
        v.push("default_role_name", "must not be empty");
    } else if !repo::role_exists(conn, tenant.get(), &values.default_role_name).await? {
        v.push(
            "default_role_name",
            format!("no role named `{}` exists in this tenant", values.default_role_name),
        );
    }
    v.finish()?;
    if ctx.tenant_id == tenant {
        let roles = grants::resolve_roles(
            conn,
            "default_role_name",
            std::slice::from_ref(&values.default_role_name),
        )
        .await?;
        grants::ensure_can_grant(&ctx.permissions, grants::permissions_of(&roles))?;
    }
    Ok(values)
}

/// The tenant a super admin named in the path, once it is known to exist.
async fn require_tenant(tx: &mut PlatformTx, tenant: Uuid) -> ApiResult<TenantId> {
    if repo::tenant_exists(tx, tenant).await? {
        Ok(tx.tenant(tenant).await?)
    } else {
        Err(ApiError::not_found("Tenant"))
    }
}

/// Configures `provider` for `tenant` and audits it, in the caller's
/// transaction (not committed).
pub async fn create_provider(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    ctx: &AuthCtx,
    tenant: TenantId,
    provider: Provider,
    input: CreateIdentityProvider,
) -> ApiResult<IdentityProviderView> {
    let mut v = Validator::new();
    if provider == Provider::Google && input.azure_tenant_id.is_some() {
        v.push("azure_tenant_id", "applies to Microsoft only");
    }
    let allowed_domains = normalize_domains(&input.allowed_domains, &mut v);
    let secret = blank_to_none(input.client_secret);
    if secret.as_ref().is_some_and(|s| s.len() > 1024) {
        v.push("client_secret", "must be at most 1024 characters");
    }
    let values = IdpValues {
        client_id: blank_to_none(input.client_id),
        client_secret_enc: secret.map(|s| state.secrets.seal_str(&s, &secret_context(tenant.get()))),
        azure_tenant_id: blank_to_none(input.azure_tenant_id.filter(|_| provider == Provider::Microsoft)),
        allowed_domains,
        auto_provision_users: input.auto_provision_users,
        default_role_name: input
            .default_role_name
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "user".into()),
        is_enabled: input.is_enabled.unwrap_or(true),
    };
    let values = validate(conn, ctx, tenant, provider, values, &mut v).await?;
    let row = repo::insert(conn, tenant.get(), Uuid::new_v4(), provider, &values, ctx.user_id).await?;
    let view = IdentityProviderView::from(&row);
    audit::record(
        conn,
        tenant,
        &ctx.actor(),
        AuditEvent::new(AuditAction::IdentityProviderCreated, "identity_provider", row.id).new_values(&view),
    )
    .await?;
    Ok(view)
}

async fn create(
    state: AppState,
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    tenant: Uuid,
    provider: Provider,
    input: CreateIdentityProvider,
) -> ApiResult<(StatusCode, ApiJson<IdentityProviderView>)> {
    let tenant = require_tenant(&mut tx, tenant).await?;
    let view = create_provider(&state, &mut tx, &ctx, tenant, provider, input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Configures Microsoft Entra ID sign-in for a tenant (one per tenant).
#[utoipa::path(post, path = "/{id}/identity-providers/microsoft", tag = "tenants",
    security(("bearer" = ["super_admin"])), params(("id" = Uuid, Path, description = "Tenant id")),
    request_body = CreateIdentityProvider,
    responses((status = 201, body = IdentityProviderView), (status = 404, description = "Unknown tenant"),
        (status = 409, description = "Already configured"), (status = 422, description = "Invalid fields")))]
pub async fn create_microsoft_provider(
    State(state): State<AppState>,
    sa: SuperAdmin,
    ApiPath(tenant): ApiPath<Uuid>,
    ApiJson(input): ApiJson<CreateIdentityProvider>,
) -> ApiResult<(StatusCode, ApiJson<IdentityProviderView>)> {
    create(state, sa, tenant, Provider::Microsoft, input).await
}

/// Configures Google Workspace sign-in for a tenant (one per tenant).
#[utoipa::path(post, path = "/{id}/identity-providers/google", tag = "tenants",
    security(("bearer" = ["super_admin"])), params(("id" = Uuid, Path, description = "Tenant id")),
    request_body = CreateIdentityProvider,
    responses((status = 201, body = IdentityProviderView), (status = 404, description = "Unknown tenant"),
        (status = 409, description = "Already configured"), (status = 422, description = "Invalid fields")))]
pub async fn create_google_provider(
    State(state): State<AppState>,
    sa: SuperAdmin,
    ApiPath(tenant): ApiPath<Uuid>,
    ApiJson(input): ApiJson<CreateIdentityProvider>,
) -> ApiResult<(StatusCode, ApiJson<IdentityProviderView>)> {
    create(state, sa, tenant, Provider::Google, input).await
}

/// The tenant's identity providers (secrets shown only as `has_client_secret`).
#[utoipa::path(get, path = "/{id}/identity-providers", tag = "tenants",
    security(("bearer" = ["super_admin"])), params(("id" = Uuid, Path, description = "Tenant id"), PageParams),
    responses((status = 200, body = Page<IdentityProviderView>), (status = 404, description = "Unknown tenant")))]
pub async fn list_identity_providers(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiPath(tenant): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<Page<IdentityProviderView>>> {
    require_tenant(&mut tx, tenant).await?;
    let (rows, total) = repo::list(&mut tx, tenant, page.limit(), page.offset()).await?;
    Ok(ApiJson(
        page.wrap(rows.iter().map(IdentityProviderView::from).collect(), total),
    ))
}

async fn load(tx: &mut sqlx::PgConnection, tenant: Uuid, id: Uuid) -> ApiResult<IdpRow> {
    repo::get(tx, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Identity provider"))
}

/// Changes a provider; absent fields are kept, `client_secret: null` removes the secret.
#[utoipa::path(put, path = "/{id}/identity-providers/{provider_id}", tag = "tenants",
    security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path, description = "Tenant id"), ("provider_id" = Uuid, Path, description = "Provider id")),
    request_body = UpdateIdentityProvider,
    responses((status = 200, body = IdentityProviderView), (status = 404, description = "Unknown tenant or provider"),
        (status = 422, description = "Invalid fields")))]
pub async fn update_identity_provider(
    State(state): State<AppState>,
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<UpdateIdentityProvider>,
) -> ApiResult<ApiJson<IdentityProviderView>> {
    let tenant = require_tenant(&mut tx, tenant).await?;
    let view = update_provider(&state, &mut tx, &ctx, tenant, id, input).await?;
    tx.commit().await?;
    Ok(ApiJson(view))
}

/// Changes provider `id` of `tenant` (absent fields kept) and audits it, in
/// the caller's transaction (not committed).
pub async fn update_provider(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    ctx: &AuthCtx,
    tenant: TenantId,
    id: Uuid,
    input: UpdateIdentityProvider,
) -> ApiResult<IdentityProviderView> {
    let old = load(conn, tenant.get(), id).await?;
    let provider = old.kind();
    let mut v = Validator::new();
    if provider == Provider::Google && input.azure_tenant_id.is_some() {
        v.push("azure_tenant_id", "applies to Microsoft only");
    }
    let allowed_domains = match &input.allowed_domains {
        Some(d) => normalize_domains(d, &mut v),
        None => old.allowed_domains.clone(),
    };
    let client_secret_enc = match input.client_secret {
        None => old.client_secret_enc.clone(),
        Some(s) => match blank_to_none(s) {
            Some(s) if s.len() > 1024 => {
                v.push("client_secret", "must be at most 1024 characters");
                None
            }
            Some(s) => Some(state.secrets.seal_str(&s, &secret_context(tenant.get()))),
            None => None,
        },
    };
    let values = IdpValues {
        client_id: match input.client_id {
            None => old.client_id.clone(),
            Some(c) => blank_to_none(c),
        },
        client_secret_enc,
        azure_tenant_id: match provider {
            Provider::Microsoft => blank_to_none(input.azure_tenant_id).or(old.azure_tenant_id.clone()),
            Provider::Google => None,
        },
        allowed_domains,
        auto_provision_users: input.auto_provision_users.unwrap_or(old.auto_provision_users),
        default_role_name: input
            .default_role_name
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| old.default_role_name.clone()),
        is_enabled: input.is_enabled.unwrap_or(old.is_enabled),
    };
    let values = validate(conn, ctx, tenant, provider, values, &mut v).await?;
    let row = repo::update(conn, tenant.get(), id, &values, ctx.user_id).await?;
    let view = IdentityProviderView::from(&row);
    audit::record(
        conn,
        tenant,
        &ctx.actor(),
        AuditEvent::new(AuditAction::IdentityProviderUpdated, "identity_provider", id)
            .old(IdentityProviderView::from(&old))
            .new_values(&view),
    )
    .await?;
    Ok(view)
}

/// Removes a provider; its users keep their accounts (and can use a password
/// or another provider).
#[utoipa::path(delete, path = "/{id}/identity-providers/{provider_id}", tag = "tenants",
    security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path, description = "Tenant id"), ("provider_id" = Uuid, Path, description = "Provider id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Unknown tenant or provider")))]
pub async fn delete_identity_provider(
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath((tenant, id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let tenant = require_tenant(&mut tx, tenant).await?;
    delete_provider(&mut tx, &ctx, tenant, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes provider `id` of `tenant` and audits it, in the caller's
/// transaction (not committed).
pub async fn delete_provider(
    conn: &mut sqlx::PgConnection,
    ctx: &AuthCtx,
    tenant: TenantId,
    id: Uuid,
) -> ApiResult<()> {
    let old = load(conn, tenant.get(), id).await?;
    repo::delete(conn, tenant.get(), id).await?;
    audit::record(
        conn,
        tenant,
        &ctx.actor(),
        AuditEvent::new(AuditAction::IdentityProviderDeleted, "identity_provider", id)
            .old(IdentityProviderView::from(&old)),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_domain;

    #[test]
    fn domains() {
        for ok in [
            "example.com",
            "a.b.example.co.uk",
            "xn--bcher-kva.xn--p1ai",
            "my-org.io",
            "1example.com",
        ] {
            assert!(is_domain(ok), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "example",
            "-a.com",
            "a-.com",
            "a..com",
            "exa mple.com",
            "example.c",
            "example.123",
            "EXAMPLE.COM",
            "ex_ample.com",
            "http://example.com",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
    }
}
