//! Types of the OAuth feature: the provider kinds, identity-provider
//! configuration DTOs and rows, and the sign-in flow's request and response bodies.

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::ApiError;

/// Associated data binding a sealed client secret to its tenant.
pub fn secret_context(tenant: Uuid) -> Vec<u8> {
    format!("idp_client_secret:{tenant}").into_bytes()
}

/// The identity providers a tenant can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Microsoft,
    Google,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microsoft => "microsoft",
            Self::Google => "google",
        }
    }

    /// A provider named in a URL path; anything else is an unknown route (404).
    pub fn from_path(s: &str) -> Result<Self, ApiError> {
        match s {
            "microsoft" => Ok(Self::Microsoft),
            "google" => Ok(Self::Google),
            _ => Err(ApiError::NotFound(format!("Unknown identity provider `{s}`"))),
        }
    }
}

/// `POST /tenants/{id}/identity-providers/{microsoft|google}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateIdentityProvider {
    /// The tenant's own app registration; empty: the platform's multi-tenant app.
    pub client_id: Option<String>,
    /// Stored encrypted; never returned.
    pub client_secret: Option<String>,
    /// Entra directory (tenant) id, a GUID; Microsoft only.
    pub azure_tenant_id: Option<String>,
    #[serde(default)]
    pub auto_provision_users: bool,
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Role given to auto-provisioned users (default `user`).
    pub default_role_name: Option<String>,
    /// Default true.
    pub is_enabled: Option<bool>,
}

/// `PUT /tenants/{id}/identity-providers/{provider_id}`: absent fields are kept;
/// `client_id`/`client_secret` set to `null` fall back to the platform app.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateIdentityProvider {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub client_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<Option<String>>,
    pub azure_tenant_id: Option<String>,
    pub auto_provision_users: Option<bool>,
    pub allowed_domains: Option<Vec<String>>,
    pub default_role_name: Option<String>,
    pub is_enabled: Option<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A stored identity-provider configuration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdpRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub provider: String,
    pub client_id: Option<String>,
    pub client_secret_enc: Option<Vec<u8>>,
    pub azure_tenant_id: Option<String>,
    pub allowed_domains: Vec<String>,
    pub auto_provision_users: bool,
    pub default_role_name: String,
    pub is_enabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl IdpRow {
    pub fn kind(&self) -> Provider {
        if self.provider == "google" {
            Provider::Google
        } else {
            Provider::Microsoft
        }
    }
}

/// An identity provider as clients see it: the secret is reduced to a flag.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentityProviderView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider: Provider,
    pub client_id: Option<String>,
    pub has_client_secret: bool,
    pub azure_tenant_id: Option<String>,
    pub allowed_domains: Vec<String>,
    pub auto_provision_users: bool,
    pub default_role_name: String,
    pub is_enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&IdpRow> for IdentityProviderView {
    fn from(r: &IdpRow) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            provider: r.kind(),
            client_id: r.client_id.clone(),
            has_client_secret: r.client_secret_enc.is_some(),
            azure_tenant_id: r.azure_tenant_id.clone(),
            allowed_domains: r.allowed_domains.clone(),
            auto_provision_users: r.auto_provision_users,
            default_role_name: r.default_role_name.clone(),
            is_enabled: r.is_enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `GET /auth/oauth/{provider}/login/{tenant_slug}` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where the provider sends the browser back; must be on the allow-list.
    pub redirect_uri: Option<String>,
}

/// Where to send the browser, and the state the frontend hands back.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginStart {
    pub authorization_url: String,
    pub state: String,
}

/// `POST /auth/oauth/{provider}/callback/{tenant_slug}`: the query parameters the
/// provider redirected with, relayed by the frontend.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CallbackBody {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set instead of `code` when the provider refused (e.g. `access_denied`).
    pub error: Option<String>,
    pub error_description: Option<String>,
}
