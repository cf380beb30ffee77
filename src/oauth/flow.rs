//! The public sign-in flow: `GET /api/v1/auth/oauth/{provider}/login/{tenant_slug}`
//! starts an authorization-code flow (state, nonce, PKCE), and
//! `POST /api/v1/auth/oauth/{provider}/callback/{tenant_slug}` finishes it with
//! our own tokens.

use axum::extract::State;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    accounts::{self, ProviderTokens},
    claims,
    model::{CallbackBody, IdpRow, LoginQuery, LoginStart, Provider, secret_context},
    oidc::ClientCredentials,
    repo::{self, StatePurpose},
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        budget::limit_ip,
        session::{AuthMethod, TokenResponse, start_session},
    },
    config::Config,
    crypto::{random_token, token_hash},
    db::TenantId,
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery, ClientMeta},
    },
};

/// How long a started sign-in may take.
const STATE_TTL: Duration = Duration::minutes(10);
/// The frontend route providers return to unless an allow-listed URI is asked for.
const DEFAULT_CALLBACK_PATH: &str = "/auth/callback";

/// One answer for "no such tenant", "inactive tenant" and "provider not set up",
/// so the endpoint does not reveal which tenants exist.
fn not_configured() -> ApiError {
    ApiError::NotFound("No identity provider of this kind is enabled for this tenant".into())
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRef {
    pub(crate) id: Uuid,
    pub(crate) is_active: bool,
}

/// The tenant by slug, through the narrow pre-authentication function.
pub(crate) async fn tenant_by_slug(state: &AppState, slug: &str) -> ApiResult<Option<TenantRef>> {
    let mut tx = state.db.anonymous_tx().await?;
    Ok(sqlx::query_as("SELECT id, is_active FROM auth_tenant_by_slug($1)")
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?)
}

/// The redirect URI to register at the provider: FRONTEND_URL + `/auth/callback`.
pub fn callback_url(config: &Config) -> String {
    format!("{}{DEFAULT_CALLBACK_PATH}", config.frontend_url)
}

/// FRONTEND_URL + `/auth/callback`, or a caller's URI that is on the allow-list:
/// the provider only ever sends codes to addresses we chose.
fn redirect_uri(config: &Config, requested: Option<&str>) -> ApiResult<String> {
    let default = callback_url(config);
    match requested.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(default),
        Some(r) if r == default || config.oauth_redirect_allowlist.iter().any(|a| a == r) => Ok(r.to_string()),
        Some(_) => Err(ApiError::invalid(
            "redirect_uri",
            "is not on the allowed redirect list (OAUTH_REDIRECT_ALLOWLIST)",
        )),
    }
}

/// The issuer whose discovery document and keys apply to this configuration.
pub(crate) fn issuer(config: &Config, idp: &IdpRow) -> String {
    match idp.kind() {
        Provider::Microsoft => {
            format!(
                "{}/{}/v2.0",
                config.microsoft_authority,
                idp.azure_tenant_id.as_deref().unwrap_or_default()
            )
        }
        Provider::Google => config.google_issuer.clone(),
    }
}

/// The tenant's own app registration, else the platform's multi-tenant one.
pub(crate) fn credentials(state: &AppState, idp: &IdpRow) -> ApiResult<ClientCredentials> {
    if let Some(client_id) = &idp.client_id {
        let client_secret = match &idp.client_secret_enc {
            Some(sealed) => Some(
                state
                    .secrets
                    .open_string(sealed, &secret_context(idp.tenant_id))
                    .map_err(|e| anyhow::anyhow!("identity provider {} client secret: {e}", idp.id))?,
            ),
            None => None,
        };
        return Ok(ClientCredentials {
            client_id: client_id.clone(),
            client_secret,
        });
    }
    let c = &state.config;
    let (id, secret) = match idp.kind() {
        Provider::Microsoft => (&c.microsoft_client_id, &c.microsoft_client_secret),
        Provider::Google => (&c.google_client_id, &c.google_client_secret),
    };
    let client_id = id.clone().ok_or_else(not_configured)?;
    Ok(ClientCredentials {
        client_id,
        client_secret: secret.as_ref().map(|s| s.expose().to_string()),
    })
}

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
        let mut tx = state.db.tenant_tx(TenantId(tenant.id)).await?;
        repo::enabled(&mut tx, tenant.id, provider)
            .await?
            .ok_or_else(not_configured)?
    };
    let start = begin(&state, TenantId(tenant.id), &idp, &redirect, StatePurpose::SignIn).await?;
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
        tenant.0,
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
            if let Err(e) = record_failure(&state, &meta, TenantId(tenant.id), provider, &info, &err).await {
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
    let tenant_id = TenantId(tenant.id);
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
    record_attempt(&mut tx, tenant_id, Some(user), &ident.email, meta, true, None).await?;
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

async fn record_attempt(
    conn: &mut sqlx::PgConnection,
    tenant: TenantId,
    user: Option<Uuid>,
    email: &str,
    meta: &ClientMeta,
    success: bool,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT record_login_attempt($1, $2, $3, $4, $5, 'oauth', $6, $7)")
        .bind(tenant.0)
        .bind(user)
        .bind(email)
        .bind(meta.ip.as_deref())
        .bind(meta.user_agent.as_deref())
        .bind(success)
        .bind(reason)
        .execute(conn)
        .await
        .map(|_| ())
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
        tenant,
        info.user,
        info.email.as_deref().unwrap_or_default(),
        meta,
        false,
        Some(&reason),
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
