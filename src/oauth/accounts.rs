//! Which local account an external identity signs in as: a known subject, an
//! existing account with the same verified email (linked), or a new account
//! (auto-provisioning) — decided inside the caller's tenant transaction so a
//! refusal leaves nothing half-created.

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{IdpRow, Provider};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::TenantTx,
    http::{ApiError, ApiResult, extract::ClientMeta},
    users::accounts::{NewUser, RoleGrant, create_user},
};

/// The person the provider vouched for, after the provider-specific checks.
#[derive(Debug, Clone)]
pub struct ExternalIdentity {
    pub provider: Provider,
    pub issuer: String,
    /// Stable per issuer (Entra: `oid`, Google: `sub`).
    pub subject: String,
    /// Lower-cased.
    pub email: String,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
}

/// How the account was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Known,
    Linked,
    Provisioned,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Known => "known_identity",
            Self::Linked => "linked",
            Self::Provisioned => "provisioned",
        }
    }
}

fn actor(user: Option<Uuid>, meta: &ClientMeta) -> AuditActor {
    AuditActor {
        user_id: user,
        impersonator_id: None,
        meta: meta.clone(),
        principal: None,
    }
}

/// Finds, links or creates the user for `ident`; refusals are 401 (deactivated,
/// like a failed password sign-in), 403 (no account and no provisioning, or an
/// unverified email) or 409 (tenant full).
pub async fn resolve_user(
    tx: &mut TenantTx,
    idp: &IdpRow,
    ident: &ExternalIdentity,
    meta: &ClientMeta,
) -> ApiResult<(Uuid, Resolution)> {
    let known: Option<(Uuid, bool)> = sqlx::query_as(
        "SELECT u.id, u.is_active FROM user_identities i \
         JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id \
         WHERE i.provider = $1 AND i.issuer = $2 AND i.subject = $3",
    )
    .bind(ident.provider.as_str())
    .bind(&ident.issuer)
    .bind(&ident.subject)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((user, active)) = known {
        if !active {
            return Err(ApiError::invalid_credentials());
        }
        sqlx::query(
            "UPDATE user_identities SET last_login_at = now(), email = $4 \
             WHERE provider = $1 AND issuer = $2 AND subject = $3",
        )
        .bind(ident.provider.as_str())
        .bind(&ident.issuer)
        .bind(&ident.subject)
        .bind(&ident.email)
        .execute(&mut **tx)
        .await?;
        return Ok((user, Resolution::Known));
    }

    let existing: Option<(Uuid, bool)> = sqlx::query_as("SELECT id, is_active FROM users WHERE lower(email) = $1")
        .bind(&ident.email)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some((user, active)) = existing {
        if !ident.email_verified {
            return Err(ApiError::forbidden(
                "The identity provider has not verified this email address, so it cannot be linked to the existing account",
            ));
        }
        if !active {
            return Err(ApiError::invalid_credentials());
        }
        // A second subject for the same account could be a recycled mailbox: refuse.
        let other: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM user_identities WHERE user_id = $1 AND provider = $2 AND issuer = $3)",
        )
        .bind(user)
        .bind(ident.provider.as_str())
        .bind(&ident.issuer)
        .fetch_one(&mut **tx)
        .await?;
        if other {
            return Err(ApiError::forbidden(format!(
                "This account is already linked to a different {} identity",
                ident.provider.as_str()
            )));
        }
        link(tx, user, ident, meta).await?;
        return Ok((user, Resolution::Linked));
    }

    if !idp.auto_provision_users {
        return Err(ApiError::forbidden(format!(
            "No account exists for {} in this tenant and automatic provisioning is disabled; ask an administrator to invite you",
            ident.email
        )));
    }
    if !ident.email_verified {
        return Err(ApiError::forbidden(
            "The identity provider has not verified this email address",
        ));
    }
    let role_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM roles WHERE name = $1)")
        .bind(&idp.default_role_name)
        .fetch_one(&mut **tx)
        .await?;
    if !role_exists {
        return Err(ApiError::conflict(format!(
            "The identity provider's default role `{}` no longer exists; ask an administrator to fix the configuration",
            idp.default_role_name
        )));
    }
    // The default role was chosen by whoever configured the provider: a super
    // admin, or a tenant admin holding every permission of that role.
    let user = create_user(
        tx,
        &actor(None, meta),
        RoleGrant::Decided,
        NewUser {
            email: ident.email.clone(),
            first_name: provider_name(&ident.first_name),
            last_name: provider_name(&ident.last_name),
            password_hash: None,
            role_names: vec![idp.default_role_name.clone()],
            email_verified: true,
        },
    )
    .await?;
    link(tx, user.id, ident, meta).await?;
    Ok((user.id, Resolution::Provisioned))
}

/// A name claim made fit for the account's name rule: control characters
/// dropped, at most 100 characters (a provider's odd claim must not block sign-in).
fn provider_name(claim: &str) -> String {
    claim.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// Records the external identity for `user` and audits the link.
async fn link(tx: &mut TenantTx, user: Uuid, ident: &ExternalIdentity, meta: &ClientMeta) -> ApiResult<()> {
    let id = Uuid::new_v4();
    let tenant = tx.tenant();
    sqlx::query(
        "INSERT INTO user_identities (tenant_id, id, user_id, provider, issuer, subject, email, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())",
    )
    .bind(tenant.get())
    .bind(id)
    .bind(user)
    .bind(ident.provider.as_str())
    .bind(&ident.issuer)
    .bind(&ident.subject)
    .bind(&ident.email)
    .execute(&mut **tx)
    .await?;
    audit::record(
        tx,
        tenant,
        &actor(Some(user), meta),
        AuditEvent::new(AuditAction::UserIdentityLinked, "user", user).new_values(json!({
            "identity_id": id, "provider": ident.provider.as_str(), "issuer": ident.issuer,
            "subject": ident.subject, "email": ident.email,
        })),
    )
    .await?;
    Ok(())
}

/// Associated data binding stored provider tokens to their tenant and user.
pub fn token_context(tenant: Uuid, user: Uuid) -> Vec<u8> {
    format!("oauth_token:{tenant}:{user}").into_bytes()
}

/// Provider tokens as received from the token endpoint.
pub struct ProviderTokens<'a> {
    pub access_token: &'a str,
    pub refresh_token: Option<&'a str>,
    pub expires_in: Option<std::time::Duration>,
    pub scope: Option<&'a str>,
}

/// Stores the provider's tokens encrypted (one row per user and provider); a
/// refresh token the provider did not resend is kept.
pub async fn store_tokens(
    state: &AppState,
    tx: &mut TenantTx,
    user: Uuid,
    provider: Provider,
    t: ProviderTokens<'_>,
) -> Result<(), sqlx::Error> {
    let ctx = token_context(tx.tenant().get(), user);
    let access = state.secrets.seal_str(t.access_token, &ctx);
    let refresh = t.refresh_token.map(|r| state.secrets.seal_str(r, &ctx));
    let expires_at = t
        .expires_in
        .and_then(|d| time::Duration::try_from(d).ok())
        .map(|d| OffsetDateTime::now_utc() + d);
    sqlx::query(
        "INSERT INTO oauth_tokens (tenant_id, id, user_id, provider, access_token_enc, refresh_token_enc, expires_at, scope) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, user_id, provider) DO UPDATE SET access_token_enc = EXCLUDED.access_token_enc, \
           refresh_token_enc = coalesce(EXCLUDED.refresh_token_enc, oauth_tokens.refresh_token_enc), \
           expires_at = EXCLUDED.expires_at, scope = EXCLUDED.scope",
    )
    .bind(tx.tenant().get())
    .bind(Uuid::new_v4())
    .bind(user)
    .bind(provider.as_str())
    .bind(access)
    .bind(refresh)
    .bind(expires_at)
    .bind(t.scope)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
