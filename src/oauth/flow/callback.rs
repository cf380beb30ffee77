//! `POST /api/v1/auth/oauth/{provider}/callback/{tenant_slug}`: finishes a
//! sign-in (state, code exchange, ID token, the tenant's rules, then sign in,
//! link or provision) and records every attempt, refused ones included.

use axum::extract::State;
use serde_json::json;
use uuid::Uuid;

use super::{TenantRef, credentials, issuer, not_configured, tenant_by_slug};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        session::{AuthMethod, TokenResponse, start_session},
        signin::{Attempt, Method, record_attempt},
    },
    crypto::token_hash,
    db::TenantId,
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ClientMeta},
    },
    oauth::{
        accounts::{self, ProviderTokens},
        claims,
        model::{CallbackBody, Provider},
        repo::{self, StatePurpose},
    },
};

/// What is known about a failing attempt, for the login history.
#[derive(Default)]
struct AttemptInfo {
    email: Option<String>,
    user: Option<Uuid>,
}

/// Finishes a sign-in: validates the state, exchanges the code, verifies the
/// ID token and the tenant's rules, then signs in, links or provisions the user.
#[utoipa::path(post, path = "/{provider}/callback/{tenant_slug}", tag = "oauth",
    params(("provider" = String, Path, description = "`microsoft` or `google`"),
        ("tenant_slug" = String, Path, description = "Tenant slug")),
    request_body = CallbackBody,
    responses((status = 200, body = TokenResponse),
        (status = 400, description = "Unknown, expired or used state; provider refused the code or the sign-in"),
        (status = 401, description = "ID token rejected, or account/tenant inactive"),
        (status = 403, description = "Refused by the tenant's rules (domain, verification, provisioning)"),
        (status = 404, description = "Unknown tenant or provider not enabled"),
        (status = 409, description = "Tenant user limit reached"), (status = 502, description = "Provider unreachable")))]
pub async fn oauth_callback(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiPath((provider, slug)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CallbackBody>,
) -> ApiResult<ApiJson<TokenResponse>> {
    let provider = Provider::from_path(&provider)?;
    let tenant = tenant_by_slug(&state, &slug).await?.ok_or_else(not_configured)?;
    let mut info = AttemptInfo::default();
    match callback(&state, &meta, provider, &tenant, body, &mut info).await {
        Ok(tokens) => Ok(ApiJson(tokens)),
        Err(err) => {
            if let Err(e) = record_failure(&state, &meta, tenant.tenant(), provider, &info, &err).await {
                tracing::warn!(error = ?e.to_string(), "could not record the failed OAuth sign-in");
            }
            Err(err)
        }
    }
}

async fn callback(
    state: &AppState,
    meta: &ClientMeta,
    provider: Provider,
    tenant: &TenantRef,
    body: CallbackBody,
    info: &mut AttemptInfo,
) -> ApiResult<TokenResponse> {
    let tenant_id = tenant.tenant();
    // Consume the state first, whatever happens next: it is single use.
    let consumed = match body.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            let mut tx = state.db.tenant_tx(tenant_id).await?;
            let row = repo::consume_state(&mut tx, tenant.id, provider, StatePurpose::SignIn, &token_hash(s)).await?;
            tx.commit().await?;
            row
        }
        None => None,
    };
    if let Some(error) = body.error.as_deref().filter(|e| !e.is_empty()) {
        let description = body
            .error_description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(ApiError::BadRequest(format!(
            "The identity provider refused the sign-in ({error}{description})"
        )));
    }
    let mut v = Validator::new();
    v.check(
        body.code.as_deref().is_some_and(|c| !c.is_empty()),
        "code",
        "is required",
    );
    v.check(
        body.state.as_deref().is_some_and(|s| !s.is_empty()),
        "state",
        "is required",
    );
    v.finish()?;
    if !tenant.is_active {
        return Err(ApiError::invalid_credentials());
    }
    let saved = consumed.ok_or_else(|| {
        ApiError::BadRequest("The sign-in state is unknown, expired or already used; start the sign-in again".into())
    })?;
    let idp = {
        let mut tx = state.db.tenant_tx(tenant_id).await?;
        repo::enabled(&mut tx, tenant.id, provider)
            .await?
            .ok_or_else(not_configured)?
    };
    let creds = credentials(state, &idp)?;
    let issuer = issuer(&state.config, &idp);
    let code = body.code.unwrap_or_default();
    let exchange = state
        .oidc
        .exchange(
            &issuer,
            &creds,
            &saved.redirect_uri,
            &code,
            &saved.pkce_verifier,
            &saved.nonce,
        )
        .await?;
    let ident = claims::external_identity(&idp, &issuer, &exchange.claims, &mut info.email)?;

    let mut tx = state.db.tenant_tx(tenant_id).await?;
    let (user, resolution) = accounts::resolve_user(&mut tx, &idp, &ident, meta).await?;
    info.user = Some(user);
    accounts::store_tokens(
        state,
        &mut tx,
        user,
        provider,
        ProviderTokens {
            access_token: &exchange.access_token,
            refresh_token: exchange.refresh_token.as_deref(),
            expires_in: exchange.expires_in,
            scope: exchange.scopes.as_deref(),
        },
    )
    .await?;
    crate::users::accounts::touch_last_login(&mut tx, user).await?;
    record_attempt(
        &mut tx,
        Attempt {
            tenant: Some(tenant_id),
            user: Some(user),
            email: &ident.email,
            method: Method::OAuth,
            success: true,
            reason: None,
        },
        meta,
    )
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        &AuditActor::user(user, meta.clone()),
        AuditEvent::new(AuditAction::AuthOauthLogin, "user", user).new_values(json!({
            "provider": provider.as_str(), "issuer": ident.issuer, "account": resolution.as_str(),
        })),
    )
    .await?;
    let tokens = start_session(state, &mut tx, user, AuthMethod::OAuth, meta, None).await?;
    tx.commit().await?;
    Ok(tokens)
}

/// Login history and audit row for a refused attempt, in their own transaction
/// (the attempt's own work has been rolled back).
async fn record_failure(
    state: &AppState,
    meta: &ClientMeta,
    tenant: TenantId,
    provider: Provider,
    info: &AttemptInfo,
    err: &ApiError,
) -> Result<(), sqlx::Error> {
    let reason: String = match err {
        ApiError::Internal(_) => "internal error".into(),
        other => other.to_string().chars().take(300).collect(),
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    record_attempt(
        &mut tx,
        Attempt {
            tenant: Some(tenant),
            user: info.user,
            email: info.email.as_deref().unwrap_or_default(),
            method: Method::OAuth,
            success: false,
            reason: Some(&reason),
        },
        meta,
    )
    .await?;
    let mut event = AuditEvent::new(AuditAction::AuthOauthLoginFailed, "user", "").new_values(json!({
        "provider": provider.as_str(), "email": info.email, "status": err.status().as_u16(), "reason": reason,
    }));
    event.resource_id = info.user.map(|u| u.to_string());
    let actor = AuditActor {
        user_id: None,
        impersonator_id: None,
        meta: meta.clone(),
        principal: None,
    };
    audit::record(&mut tx, tenant, &actor, event).await?;
    tx.commit().await
}
