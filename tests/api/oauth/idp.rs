//! A local OpenID Connect provider for the OAuth tests, served on loopback:
//! discovery documents for Entra-shaped issuers (`/{tid}/v2.0`) and a
//! Google-shaped one (`/google`), a JWKS whose keys can be rotated, and a token
//! endpoint that checks PKCE, the redirect URI and client credentials and issues
//! RS256 ID tokens with whatever claims the test asks for.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{RsaPrivateKey, pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// An RSA signing key and its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    encoding: EncodingKey,
    n: String,
    e: String,
}

impl TestKey {
    fn jwk(&self) -> Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": self.n, "e": self.e})
    }
}

/// RSA key generation is slow in debug builds: make a few once per test process.
fn key_material() -> &'static Vec<(Vec<u8>, String, String)> {
    static KEYS: OnceLock<Vec<(Vec<u8>, String, String)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
                        let der = key.to_pkcs1_der().expect("PKCS#1 DER").as_bytes().to_vec();
                        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
                        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
                        (der, n, e)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    })
}

/// Key `i` (0..3) of the process-wide pool under `kid`.
pub fn test_key(i: usize, kid: &str) -> TestKey {
    let (der, n, e) = &key_material()[i];
    TestKey {
        kid: kid.to_string(),
        encoding: EncodingKey::from_rsa_der(der),
        n: n.clone(),
        e: e.clone(),
    }
}

/// What the token endpoint answers for one code.
#[derive(Clone)]
pub struct Grant {
    pub claims: Value,
    /// `None`: the provider's current key.
    pub key: Option<TestKey>,
    /// An OAuth error body answered with 400 instead of tokens.
    pub token_error: Option<Value>,
    client_id: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Default)]
struct Inner {
    /// Published in the JWKS.
    published: Vec<TestKey>,
    /// Signs ID tokens by default.
    current: Option<TestKey>,
    codes: HashMap<String, Grant>,
    /// client_id → client_secret the token endpoint demands.
    clients: HashMap<String, String>,
    jwks_fetches: usize,
    token_requests: usize,
    /// When set, Entra discovery answers only for these directories (as
    /// Microsoft does: an unknown tenant id is a 400 `invalid_tenant`).
    directories: Option<Vec<String>>,
}

type Shared = Arc<Mutex<Inner>>;

pub struct TestIdp {
    pub base: String,
    inner: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The authorization request our app built, as the provider would read it.
#[derive(Debug)]
pub struct AuthRequest {
    pub path: String,
    pub params: HashMap<String, String>,
}

impl AuthRequest {
    pub fn parse(url: &str) -> Self {
        let u = url::Url::parse(url).expect("authorization URL");
        AuthRequest {
            path: u.path().to_string(),
            params: u.query_pairs().into_owned().collect(),
        }
    }
    pub fn param(&self, k: &str) -> &str {
        self.params
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("authorization URL lacks `{k}`: {self:?}"))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestIdp {
    pub async fn start() -> Self {
        let key = test_key(0, "key-1");
        let inner: Shared = Arc::new(Mutex::new(Inner {
            published: vec![key.clone()],
            current: Some(key),
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let app = Router::new()
            .route("/google/.well-known/openid-configuration", get(google_discovery))
            .route("/{tid}/v2.0/.well-known/openid-configuration", get(entra_discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state((inner.clone(), base.clone()));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestIdp { base, inner, server }
    }

    pub fn entra_issuer(&self, tid: &str) -> String {
        format!("{}/{tid}/v2.0", self.base)
    }
    pub fn google_issuer(&self) -> String {
        format!("{}/google", self.base)
    }

    /// The token endpoint will demand this secret from `client_id`.
    pub fn register_client(&self, client_id: &str, secret: &str) {
        self.inner
            .lock()
            .unwrap()
            .clients
            .insert(client_id.into(), secret.into());
    }

    /// Entra discovery answers only for these directory (tenant) ids from now on.
    pub fn only_directories(&self, tids: &[&str]) {
        self.inner.lock().unwrap().directories = Some(tids.iter().map(|t| t.to_string()).collect());
    }

    /// Publishes `key` alone and signs with it from now on.
    pub fn rotate_to(&self, key: TestKey) {
        let mut g = self.inner.lock().unwrap();
        g.published = vec![key.clone()];
        g.current = Some(key);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.inner.lock().unwrap().jwks_fetches
    }
    pub fn token_requests(&self) -> usize {
        self.inner.lock().unwrap().token_requests
    }

    /// Entra-shaped ID-token claims for a user of directory `tid`.
    pub fn entra_claims(&self, tid: &str, oid: &str, email: &str) -> Value {
        json!({
            "iss": self.entra_issuer(tid), "sub": format!("pairwise-{oid}"), "tid": tid, "oid": oid,
            "preferred_username": email, "email": email, "name": "Ada Lovelace",
            "given_name": "Ada", "family_name": "Lovelace",
        })
    }

    /// Google-shaped ID-token claims for a Workspace user.
    pub fn google_claims(&self, sub: &str, email: &str, hd: Option<&str>) -> Value {
        let mut c = json!({
            "iss": self.google_issuer(), "sub": sub, "email": email, "email_verified": true,
            "name": "Grace Hopper", "given_name": "Grace", "family_name": "Hopper",
        });
        if let Some(hd) = hd {
            c["hd"] = json!(hd);
        }
        c
    }

    /// "Signs the user in" for `authorization_url`: remembers a code whose token
    /// response carries `claims` (aud, nonce, iat and exp filled in unless set).
    pub fn issue_code(&self, authorization_url: &str, claims: Value) -> String {
        self.issue_code_with(authorization_url, claims, None, None)
    }

    pub fn issue_code_with(
        &self,
        authorization_url: &str,
        mut claims: Value,
        key: Option<TestKey>,
        token_error: Option<Value>,
    ) -> String {
        let req = AuthRequest::parse(authorization_url);
        assert_eq!(req.param("response_type"), "code");
        assert_eq!(req.param("code_challenge_method"), "S256");
        assert!(req.param("scope").split(' ').any(|s| s == "openid"));
        let defaults = [
            ("aud", json!(req.param("client_id"))),
            ("nonce", json!(req.param("nonce"))),
            ("iat", json!(now())),
            ("exp", json!(now() + 600)),
        ];
        for (k, v) in defaults {
            if claims.get(k).is_none() {
                claims[k] = v;
            }
        }
        let code = format!("code-{}", uuid::Uuid::new_v4());
        let grant = Grant {
            claims,
            key,
            token_error,
            client_id: req.param("client_id").to_string(),
            redirect_uri: req.param("redirect_uri").to_string(),
            challenge: req.param("code_challenge").to_string(),
        };
        self.inner.lock().unwrap().codes.insert(code.clone(), grant);
        code
    }
}

fn discovery(base: &str, issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    })
}

async fn entra_discovery(State((inner, base)): State<(Shared, String)>, Path(tid): Path<String>) -> Response {
    let known = inner
        .lock()
        .unwrap()
        .directories
        .as_ref()
        .is_none_or(|d| d.contains(&tid));
    if !known {
        let detail = format!("AADSTS90002: Tenant '{tid}' not found.");
        return oauth_error("invalid_tenant", &detail);
    }
    Json(discovery(&base, &format!("{base}/{tid}/v2.0"))).into_response()
}

async fn google_discovery(State((_, base)): State<(Shared, String)>) -> Json<Value> {
    Json(discovery(&base, &format!("{base}/google")))
}

async fn jwks(State((inner, _)): State<(Shared, String)>) -> Json<Value> {
    let mut g = inner.lock().unwrap();
    g.jwks_fetches += 1;
    Json(json!({"keys": g.published.iter().map(TestKey::jwk).collect::<Vec<_>>()}))
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Client id and secret from HTTP Basic (form-urlencoded parts) or the body.
fn client_auth(headers: &HeaderMap, form: &HashMap<String, String>) -> (Option<String>, Option<String>) {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).unwrap_or_default()).unwrap_or_default();
        if let Some((id, secret)) = decoded.split_once(':') {
            let unescape = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned()
            };
            return (Some(unescape(id)), Some(unescape(secret)));
        }
    }
    (form.get("client_id").cloned(), form.get("client_secret").cloned())
}

async fn token(
    State((inner, _)): State<(Shared, String)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut g = inner.lock().unwrap();
    g.token_requests += 1;
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error("unsupported_grant_type", "only authorization_code");
    }
    let Some(grant) = form.get("code").and_then(|c| g.codes.remove(c)) else {
        return oauth_error("invalid_grant", "unknown or already used code");
    };
    if let Some(err) = grant.token_error {
        return (StatusCode::BAD_REQUEST, Json(err)).into_response();
    }
    let (client_id, secret) = client_auth(&headers, &form);
    if client_id.as_deref() != Some(grant.client_id.as_str()) {
        return oauth_error("invalid_client", "client id does not match the authorization request");
    }
    if let Some(expected) = g.clients.get(&grant.client_id)
        && secret.as_deref() != Some(expected.as_str())
    {
        return oauth_error("invalid_client", "bad client secret");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error("invalid_grant", "redirect_uri does not match");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return oauth_error("invalid_grant", "PKCE verification failed");
    }
    let key = grant.key.or_else(|| g.current.clone()).expect("a signing key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let id_token = jsonwebtoken::encode(&header, &grant.claims, &key.encoding).expect("RS256 signing");
    Json(json!({
        "access_token": format!("provider-access-{}", uuid::Uuid::new_v4()),
        "refresh_token": format!("provider-refresh-{}", uuid::Uuid::new_v4()),
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "openid email profile",
        "id_token": id_token,
    }))
    .into_response()
}
