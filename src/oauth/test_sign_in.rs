//! An administrator's "test sign-in" of the tenant's provider configuration:
//! the same authorization request, code exchange and ID-token checks as a
//! sign-in, then a report of what the provider returned and what the sign-in
//! would do with it — computed in a transaction that is rolled back, so a test
//! never signs anyone in, links or creates an account.
//!
//! The provider returns to the ordinary `/auth/callback` (the one redirect URI
//! the administrator registered); the state is stored with purpose `test`, so
//! the sign-in callback can never consume it.

use serde::Serialize;
use serde_json::Value;

use super::{
    accounts::{self, Resolution},
    claims,
    flow::{self, begin, callback_url, credentials},
    model::{CallbackBody, IdpRow, LoginStart, Provider},
    oidc::OidcError,
    repo::{self, StatePurpose},
};
use crate::{
    app::AppState,
    crypto::token_hash,
    db::TenantId,
    http::{ApiError, ApiResult, extract::ClientMeta},
};

/// The ID-token claims a sign-in reads, in the order shown.
const MAPPED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "tid",
    "oid",
    "hd",
    "email",
    "email_verified",
    "preferred_username",
    "name",
    "given_name",
    "family_name",
];

/// One claim as the provider sent it (JSON text for non-strings).
#[derive(Debug, Serialize)]
pub struct ClaimLine {
    pub name: &'static str,
    pub value: String,
}

/// What a test sign-in found.
#[derive(Debug, Serialize)]
pub struct TestReport {
    pub provider: Provider,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub claims: Vec<ClaimLine>,
    /// The account key a sign-in would use (Entra: `oid`, Google: `sub`).
    pub mapped_subject: Option<String>,
    /// What a real sign-in with this identity would do, or why it would be refused.
    pub outcome: String,
    pub would_sign_in: bool,
}

/// Sends the administrator to the provider; a wrong Entra directory (tenant)
/// ID fails here, at discovery, with a sentence that says so.
pub async fn start(state: &AppState, tenant: TenantId, idp: &IdpRow) -> ApiResult<LoginStart> {
    let redirect = callback_url(&state.config);
    begin(state, tenant, idp, &redirect, StatePurpose::Test)
        .await
        .map_err(|e| match (e, idp.kind()) {
            (ApiError::BadGateway(detail), Provider::Microsoft) => ApiError::BadGateway(format!(
                "Microsoft Entra ID did not answer for the directory (tenant) ID `{}`: check the \"Directory \
                 (tenant) ID\" on the app registration's Overview page. ({detail})",
                idp.azure_tenant_id.as_deref().unwrap_or_default()
            )),
            (ApiError::BadGateway(detail), Provider::Google) => ApiError::BadGateway(format!(
                "Google's sign-in configuration could not be loaded. ({detail})"
            )),
            (e, _) => e,
        })
}

/// Finishes a test: checks the state (purpose `test`), exchanges the code,
/// verifies the ID token, applies the provider's and tenant's rules and
/// dry-runs the account decision. Provider errors come back as sentences an
/// administrator can act on (a wrong client secret names itself).
pub async fn finish(
    state: &AppState,
    tenant: TenantId,
    idp: &IdpRow,
    body: CallbackBody,
    meta: &ClientMeta,
) -> ApiResult<TestReport> {
    if let Some(error) = body.error.as_deref().filter(|e| !e.is_empty()) {
        let description = body.error_description.as_deref().unwrap_or_default();
        return Err(ApiError::BadRequest(format!(
            "The identity provider refused the sign-in: {error} {description}"
        )));
    }
    let saved = {
        let mut tx = state.db.tenant_tx(tenant).await?;
        let hash = token_hash(body.state.as_deref().unwrap_or_default());
        let row = repo::consume_state(&mut tx, tenant.get(), idp.kind(), StatePurpose::Test, &hash).await?;
        tx.commit().await?;
        row
    }
    .ok_or_else(|| ApiError::BadRequest("This test sign-in has expired or was already used; start it again".into()))?;
    let creds = credentials(state, idp)?;
    let issuer = flow::issuer(&state.config, idp);
    let exchange = state
        .oidc
        .exchange(
            &issuer,
            &creds,
            &saved.redirect_uri,
            body.code.as_deref().unwrap_or_default(),
            &saved.pkce_verifier,
            &saved.nonce,
        )
        .await
        .map_err(explain)?;
    let all = serde_json::to_value(&exchange.claims).unwrap_or_default();
    let claims_shown = MAPPED_CLAIMS
        .iter()
        .filter_map(|name| {
            let value = all.get(*name).filter(|v| !v.is_null())?;
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(ClaimLine { name, value })
        })
        .collect();
    let mut seen_email = None;
    let mut report = TestReport {
        provider: idp.kind(),
        issuer: exchange.claims.issuer().to_string(),
        subject: exchange.claims.subject().to_string(),
        email: exchange.claims.email().map(|e| e.to_string()),
        claims: claims_shown,
        mapped_subject: None,
        outcome: String::new(),
        would_sign_in: false,
    };
    let ident = match claims::external_identity(idp, &issuer, &exchange.claims, &mut seen_email) {
        Ok(ident) => ident,
        Err(e) => {
            report.outcome = format!("A sign-in would be refused: {e}");
            return Ok(report);
        }
    };
    report.mapped_subject = Some(ident.subject.clone());
    // The account decision of a real sign-in, in a transaction that is dropped.
    let mut tx = state.db.tenant_tx(tenant).await?;
    report.outcome = match accounts::resolve_user(&mut tx, idp, &ident, meta).await {
        Ok((_, resolution)) => {
            report.would_sign_in = true;
            match resolution {
                Resolution::Known => format!(
                    "Would sign in to the account already linked to this identity ({}).",
                    ident.email
                ),
                Resolution::Linked => format!(
                    "Would link this identity to the existing account {} and sign in.",
                    ident.email
                ),
                Resolution::Provisioned => format!(
                    "Would create the account {} with the role `{}` and sign in.",
                    ident.email, idp.default_role_name
                ),
            }
        }
        Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
        Err(e) => format!("A sign-in would be refused: {e}"),
    };
    drop(tx);
    Ok(report)
}

/// The provider's refusal as something to fix.
fn explain(e: OidcError) -> ApiError {
    if e.is_invalid_client() {
        return ApiError::BadRequest(format!(
            "The provider refused the client credentials (invalid_client): check the client ID and the \
             client secret — use the secret's value, not its ID — and that the secret has not expired. ({e})"
        ));
    }
    e.into()
}
