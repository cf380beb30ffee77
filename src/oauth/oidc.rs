//! The OpenID Connect relying party: discovery and JWKS (cached per issuer),
//! authorization URLs with PKCE and nonce, the code exchange and ID-token
//! validation — all through the `openidconnect` crate; nothing JOSE by hand.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpClientError, IdTokenClaims,
    IdTokenFields, IssuerUrl, JsonWebKeySet, JwsSigningAlgorithm, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse,
    TokenResponse as _,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
        CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
    },
    reqwest,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::http::ApiError;

/// How long discovery documents and key sets are trusted before refetching.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Clock skew tolerated on `exp` and `iat`.
const CLOCK_SKEW_SECS: i64 = 60;

/// Claims beyond the standard set that the providers send and we check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderClaims {
    /// Entra: the directory (tenant) that issued the token.
    pub tid: Option<String>,
    /// Entra: the user's immutable object id within that directory.
    pub oid: Option<String>,
    /// Google Workspace: the hosted domain of the account.
    pub hd: Option<String>,
}
impl AdditionalClaims for ProviderClaims {}

pub type VerifiedClaims = IdTokenClaims<ProviderClaims, CoreGenderClaim>;

type IdFields = IdTokenFields<
    ProviderClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type ProviderTokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;

type OidcClient = Client<
    ProviderClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    ProviderTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why talking to an identity provider failed; mapped to 4xx/502, never 500.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("The identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("The identity provider answered unexpectedly: {0}")]
    BadProviderResponse(String),
    #[error("The identity provider refused the authorization code: {0}")]
    TokenRejected(String),
    #[error("The ID token was rejected: {0}")]
    InvalidIdToken(String),
}

impl OidcError {
    /// The token endpoint refused the client's own credentials (RFC 6749
    /// §5.2 `invalid_client`): a wrong or expired client secret.
    pub fn is_invalid_client(&self) -> bool {
        matches!(self, Self::TokenRejected(detail) if detail.starts_with("invalid_client"))
    }
}

impl From<OidcError> for ApiError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::Unreachable(_) | OidcError::BadProviderResponse(_) => ApiError::BadGateway(e.to_string()),
            OidcError::TokenRejected(_) => ApiError::BadRequest(e.to_string()),
            OidcError::InvalidIdToken(_) => ApiError::Unauthorized(e.to_string()),
        }
    }
}

/// Which app registration to use at the provider.
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The authorization request to send the browser to, and what the callback needs.
pub struct AuthorizationStart {
    pub url: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The provider's answer to a code exchange, with the ID token validated.
pub struct Exchange {
    pub claims: VerifiedClaims,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<Duration>,
    pub scopes: Option<String>,
}

struct Cached {
    metadata: CoreProviderMetadata,
    fetched: Instant,
}

/// Shared OIDC client state: one HTTP client and the per-issuer metadata cache.
pub struct OidcService {
    http: reqwest::Client,
    cache: RwLock<HashMap<String, Cached>>,
}

impl Default for OidcService {
    fn default() -> Self {
        Self::new()
    }
}

impl OidcService {
    pub fn new() -> Self {
        // openidconnect requires redirects off: a redirected token request could
        // leak the code to another host (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client with static settings");
        Self {
            http,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The issuer's discovery document and key set, from cache while fresh.
    async fn metadata(&self, issuer: &str) -> Result<CoreProviderMetadata, OidcError> {
        if let Some(c) = self.cache.read().await.get(issuer)
            && c.fetched.elapsed() < METADATA_TTL
        {
            return Ok(c.metadata.clone());
        }
        let url = IssuerUrl::new(issuer.to_string())
            .map_err(|e| OidcError::BadProviderResponse(format!("issuer `{issuer}` is not a URL ({e})")))?;
        let metadata = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| {
                use openidconnect::DiscoveryError as D;
                match e {
                    D::Request(err) => OidcError::Unreachable(describe(&err)),
                    other => OidcError::BadProviderResponse(format!("discovery failed: {}", describe(&other))),
                }
            })?;
        self.store(issuer, metadata.clone()).await;
        Ok(metadata)
    }

    async fn store(&self, issuer: &str, metadata: CoreProviderMetadata) {
        self.cache.write().await.insert(
            issuer.to_string(),
            Cached {
                metadata,
                fetched: Instant::now(),
            },
        );
    }

    /// Refetches the key set (a signing key was rotated) and updates the cache.
    async fn refresh_jwks(
        &self,
        issuer: &str,
        metadata: CoreProviderMetadata,
    ) -> Result<CoreProviderMetadata, OidcError> {
        let jwks = JsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| {
                use openidconnect::DiscoveryError as D;
                match e {
                    D::Request(err) => OidcError::Unreachable(describe(&err)),
                    other => OidcError::BadProviderResponse(format!("key set fetch failed: {}", describe(&other))),
                }
            })?;
        let metadata = metadata.set_jwks(jwks);
        self.store(issuer, metadata.clone()).await;
        Ok(metadata)
    }

    fn client(
        metadata: CoreProviderMetadata,
        creds: &ClientCredentials,
        redirect_uri: &str,
    ) -> Result<OidcClient, OidcError> {
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| OidcError::BadProviderResponse(format!("redirect URI is not a URL ({e})")))?;
        Ok(OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(creds.client_id.clone()),
            creds.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Builds the authorization URL (code flow, PKCE S256, fresh nonce) for `state`.
    pub async fn authorization_url(
        &self,
        issuer: &str,
        creds: &ClientCredentials,
        redirect_uri: &str,
        state: &str,
        scopes: &[&str],
        extra_params: &[(&str, String)],
    ) -> Result<AuthorizationStart, OidcError> {
        let client = Self::client(self.metadata(issuer).await?, creds, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in scopes {
            request = request.add_scope(Scope::new((*s).to_string()));
        }
        for (k, v) in extra_params {
            request = request.add_extra_param(*k, v.clone());
        }
        let (url, _state, nonce) = request.url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` (with the PKCE verifier) and validates the ID token:
    /// signature against the issuer's keys (refetched once on an unknown `kid`),
    /// issuer, audience, expiry (60 s skew) and nonce.
    pub async fn exchange(
        &self,
        issuer: &str,
        creds: &ClientCredentials,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Exchange, OidcError> {
        let metadata = self.metadata(issuer).await?;
        let client = Self::client(metadata.clone(), creds, redirect_uri)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::BadProviderResponse(format!("no token endpoint ({e})")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::BadProviderResponse("the token response carries no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_string());

        let claims = match Self::verify(&client, id_token, &nonce) {
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its keys since we cached them.
                let metadata = self.refresh_jwks(issuer, metadata).await?;
                let client = Self::client(metadata, creds, redirect_uri)?;
                Self::verify(&client, id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| OidcError::InvalidIdToken(describe(&e)))?;

        Ok(Exchange {
            claims,
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires_in: response.expires_in(),
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        })
    }

    fn verify(
        client: &OidcClient,
        id_token: &openidconnect::IdToken<
            ProviderClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
        nonce: &Nonce,
    ) -> Result<VerifiedClaims, openidconnect::ClaimsVerificationError> {
        // Asymmetric algorithms only: the providers sign with their private keys.
        let algs = [
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EcdsaP384Sha384,
        ];
        debug_assert!(algs.iter().all(|a| !a.uses_shared_secret()));
        let skew = chrono::Duration::seconds(CLOCK_SKEW_SECS);
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(algs)
            // `exp` is compared with "now"; shifting now back allows the skew.
            .set_time_fn(move || chrono::Utc::now() - skew)
            .set_issue_time_verifier_fn(move |iat| {
                if iat > chrono::Utc::now() + skew {
                    Err("issued in the future".into())
                } else {
                    Ok(())
                }
            });
        id_token.claims(&verifier, nonce).cloned()
    }
}

fn token_error(
    e: RequestTokenError<HttpClientError<reqwest::Error>, StandardErrorResponse<CoreErrorResponseType>>,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let mut detail = r.error().as_ref().to_string();
            if let Some(d) = r.error_description() {
                detail.push_str(&format!(" ({d})"));
            }
            OidcError::TokenRejected(detail)
        }
        RequestTokenError::Request(err) => OidcError::Unreachable(describe(&err)),
        RequestTokenError::Parse(err, _) => {
            OidcError::BadProviderResponse(format!("token response could not be parsed: {err}"))
        }
        RequestTokenError::Other(msg) => OidcError::BadProviderResponse(msg),
    }
}

/// An error with its sources, for a problem detail a client can act on.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
