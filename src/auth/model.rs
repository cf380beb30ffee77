//! Request and response bodies of the `/auth` endpoints.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::session::TokenResponse;
use crate::pagination::PageParams;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Which tenant to sign in to; needed only when the email has accounts in several.
    #[serde(default)]
    pub tenant_slug: Option<String>,
}

/// The first step of an MFA sign-in: present `mfa_token` with a code to `/mfa/verify`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaChallenge {
    pub mfa_required: bool,
    pub mfa_token: String,
    /// Seconds the `mfa_token` stays valid.
    pub expires_in: i64,
}

/// Tokens, or an MFA challenge for users with TOTP enabled.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(Box<TokenResponse>),
    Mfa(MfaChallenge),
}

/// A tenant the email has an account in (409 body of an ambiguous login).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantChoice {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MfaVerifyRequest {
    pub mfa_token: String,
    /// A 6-digit TOTP code or a recovery code.
    pub code: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateUserRequest {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// Without one, the welcome email carries a set-password link.
    #[serde(default)]
    pub password: Option<String>,
    /// Role names; default `["user"]`.
    #[serde(default)]
    pub role_names: Option<Vec<String>>,
    /// Default true. Without a password the welcome email is always sent.
    #[serde(default)]
    pub send_welcome_email: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResetRequest {
    pub email: String,
    #[serde(default)]
    pub tenant_slug: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResetConfirm {
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VerifyEmailRequest {
    pub token: String,
}

/// The token of a lockout alert's unlock link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UnlockRequest {
    pub token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AcceptInvitationRequest {
    pub token: String,
    pub password: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// A plain acknowledgement (202 of the reset request).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub detail: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpSetup {
    /// Base32 seed, for typing into an authenticator app.
    pub secret: String,
    pub otpauth_url: String,
    /// Ten single-use codes, shown only now; they work once MFA is enabled.
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TotpCode {
    /// A 6-digit TOTP code (disable also takes a recovery code).
    pub code: String,
}

/// Turning MFA off takes both factors: a stolen access token alone cannot.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TotpDisable {
    /// A current 6-digit TOTP code or an unused recovery code.
    pub code: String,
    /// The account's current password.
    pub current_password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaStatus {
    pub mfa_enabled: bool,
}

/// `GET /history` and `GET /security-events` take only paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LoginAttemptView {
    pub id: Uuid,
    pub email: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub method: String,
    pub success: bool,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SecurityEventView {
    pub id: Uuid,
    pub event_type: String,
    pub details: serde_json::Value,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
