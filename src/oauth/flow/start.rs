//! `GET /api/v1/auth/oauth/{provider}/login/{tenant_slug}`: starts a sign-in
//! (state, nonce and PKCE verifier stored in the tenant's `oauth_states`).

use axum::extract::State;
use time::OffsetDateTime;

use super::{STATE_TTL, credentials, issuer, not_configured, redirect_uri, tenant_by_slug};
use crate::{
    app::AppState,
    auth::budget::limit_ip,
    crypto::{random_token, token_hash},
    db::TenantId,
    http::{
        ApiResult,
        extract::{ApiJson, ApiPath, ApiQuery, ClientMeta},
    },
    oauth::{
        model::{IdpRow, LoginQuery, LoginStart, Provider},
        repo::{self, StatePurpose},
    },
};

/// Starts a sign-in with the tenant's provider: answers the URL to send the
/// browser to and the state the frontend must hand back to the callback.
#[utoipa::path(get, path = "/{provider}/login/{tenant_slug}", tag = "oauth",
    params(("provider" = String, Path, description = "`microsoft` or `google`"),
        ("tenant_slug" = String, Path, description = "Tenant slug"), LoginQuery),
    responses((status = 200, body = LoginStart),
        (status = 404, description = "Unknown or inactive tenant, or provider not enabled"),
        (status = 422, description = "redirect_uri not allowed"), (status = 429, description = "Rate limited (per IP)"),
        (status = 502, description = "Provider unreachable")))]
pub async fn oauth_login(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiPath((provider, slug)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<LoginQuery>,
) -> ApiResult<ApiJson<LoginStart>> {
    // Each start writes an `oauth_states` row: budgeted per IP like a login.
    limit_ip(&state, "oauth", &meta).await?;
    let provider = Provider::from_path(&provider)?;
    let tenant = tenant_by_slug(&state, &slug)
        .await?
        .filter(|t| t.is_active)
        .ok_or_else(not_configured)?;
    let redirect = redirect_uri(&state.config, query.redirect_uri.as_deref())?;
    let idp = {
        let mut tx = state.db.tenant_tx(tenant.tenant()).await?;
        repo::enabled(&mut tx, tenant.id, provider)
            .await?
            .ok_or_else(not_configured)?
    };
    let start = begin(&state, tenant.tenant(), &idp, &redirect, StatePurpose::SignIn).await?;
    Ok(ApiJson(start))
}

/// The authorization request for `idp` (scopes and hints per provider), with
/// its state stored for `purpose`: shared by sign-ins and the console's test.
pub(crate) async fn begin(
    state: &AppState,
    tenant: TenantId,
    idp: &IdpRow,
    redirect: &str,
    purpose: StatePurpose,
) -> ApiResult<LoginStart> {
    let creds = credentials(state, idp)?;
    let mut scopes = vec!["email", "profile"];
    let mut extra = Vec::new();
    match idp.kind() {
        Provider::Microsoft => scopes.push("offline_access"),
        Provider::Google => {
            extra.push(("access_type", "offline".to_string()));
            // With a single Workspace domain, Google's account picker is limited to it.
            if let [domain] = idp.allowed_domains.as_slice() {
                extra.push(("hd", domain.clone()));
            }
        }
    }
    let state_token = random_token();
    let start = state
        .oidc
        .authorization_url(
            &issuer(&state.config, idp),
            &creds,
            redirect,
            &state_token,
            &scopes,
            &extra,
        )
        .await?;

    let mut tx = state.db.tenant_tx(tenant).await?;
    repo::insert_state(
        &mut tx,
        tenant.get(),
        &repo::NewState {
            state_hash: token_hash(&state_token),
            purpose,
            provider: idp.kind(),
            nonce: &start.nonce,
            pkce_verifier: &start.pkce_verifier,
            redirect_uri: redirect,
            expires_at: OffsetDateTime::now_utc() + STATE_TTL,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(LoginStart {
        authorization_url: start.url,
        state: state_token,
    })
}
