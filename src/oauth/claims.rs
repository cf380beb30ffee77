//! From verified ID-token claims to an [`ExternalIdentity`], applying the
//! provider's rules (Entra `tid`, Google `hd` and `email_verified`) and the
//! tenant's allowed domains.

use super::{
    accounts::ExternalIdentity,
    model::{IdpRow, Provider},
    oidc::VerifiedClaims,
};
use crate::http::{ApiError, ApiResult};

/// Applies the provider's and the tenant's rules to verified ID-token claims;
/// `seen_email` receives the address as soon as it is known (login history).
pub fn external_identity(
    idp: &IdpRow,
    issuer: &str,
    claims: &VerifiedClaims,
    seen_email: &mut Option<String>,
) -> ApiResult<ExternalIdentity> {
    let extra = claims.additional_claims();
    let (subject, email, email_verified) = match idp.kind() {
        Provider::Microsoft => {
            let expected = idp.azure_tenant_id.as_deref().unwrap_or_default();
            let tid = extra.tid.as_deref().unwrap_or_default();
            if !tid.eq_ignore_ascii_case(expected) {
                return Err(ApiError::Unauthorized(format!(
                    "The ID token was issued for another Entra directory (tid `{tid}`, expected `{expected}`)"
                )));
            }
            // `oid` is the user's immutable id in the directory; `sub` differs per app.
            let subject = extra.oid.clone().unwrap_or_else(|| claims.subject().to_string());
            // Microsoft documents `email` (optional claim) or `preferred_username`;
            // an address from the configured directory counts as verified.
            let email = claims
                .email()
                .map(|e| e.to_string())
                .or_else(|| claims.preferred_username().map(|u| u.to_string()))
                .filter(|e| e.contains('@'));
            (subject, email, true)
        }
        Provider::Google => {
            let hd = extra.hd.as_deref().map(str::to_ascii_lowercase).ok_or_else(|| {
                ApiError::forbidden("This Google account does not belong to a Google Workspace domain (no `hd` claim)")
            })?;
            if !idp.allowed_domains.contains(&hd) {
                return Err(ApiError::forbidden(format!(
                    "The Google Workspace domain `{hd}` is not allowed for this tenant"
                )));
            }
            (
                claims.subject().to_string(),
                claims.email().map(|e| e.to_string()),
                claims.email_verified() == Some(true),
            )
        }
    };
    let email = email
        .map(|e| e.trim().to_lowercase())
        .ok_or_else(|| ApiError::forbidden("The identity provider did not share an email address"))?;
    *seen_email = Some(email.clone());
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if !idp.allowed_domains.is_empty() && !idp.allowed_domains.iter().any(|d| d == domain) {
        return Err(ApiError::forbidden(format!(
            "The email domain `{domain}` is not allowed for this tenant"
        )));
    }
    if idp.kind() == Provider::Google && !email_verified {
        return Err(ApiError::forbidden("Google has not verified this email address"));
    }
    let given = claims.given_name().and_then(|n| n.get(None)).map(|n| n.to_string());
    let family = claims.family_name().and_then(|n| n.get(None)).map(|n| n.to_string());
    let full = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.to_string())
        .unwrap_or_default();
    let (first_name, last_name) = match (given, family) {
        (Some(g), f) => (g, f.unwrap_or_default()),
        (None, f) => {
            let (a, b) = full.split_once(' ').unwrap_or((full.as_str(), ""));
            (a.to_string(), f.unwrap_or_else(|| b.to_string()))
        }
    };
    Ok(ExternalIdentity {
        provider: idp.kind(),
        issuer: issuer.to_string(),
        subject,
        email,
        email_verified,
        first_name,
        last_name,
    })
}
