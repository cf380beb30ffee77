//! The one route table, the OpenAPI document, the middleware stack and the
//! list of health checks: the top of the dependency graph (only `main` and the
//! tests name it). Features export their routers; only this file assembles them.
//!
//! The rule for paths: a feature router declares its paths relative to the one
//! URL prefix it owns, and [`api_routes`] nests it there, so each line of the
//! table names a prefix and the folder that serves it (`/api/v1/tenants/…` →
//! `src/tenants/`, `/api/v1/auth/oauth/…` → `src/oauth/`). A feature whose
//! routes span other prefixes declares full paths and is merged instead: today
//! only `rbac` (`/permissions`, `/roles` and `/users/{id}/roles`). The health
//! and metrics routes are the kernel's, added at the root by [`router`].

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRef, State},
    http::HeaderName,
    middleware as mw,
};
use serde_json::Value;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    app::AppState,
    auth::SuperAdmin,
    http::{ApiError, client_ip, error, health, health::HealthChecks, middleware, ratelimit},
};

#[derive(OpenApi)]
#[openapi(
    info(title = "tenantry", description = "Multi-tenant backend: tenants, identity, RBAC, audit, projects and documents."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth"), (name = "oauth"), (name = "users"), (name = "roles"), (name = "tenants"),
        (name = "projects"), (name = "documents"), (name = "admin"), (name = "audit"), (name = "webhooks"),
        (name = "integrations"), (name = "groups"), (name = "scim"), (name = "health")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every `/api/v1` route and the OpenAPI document they describe: one line per
/// URL prefix, naming the feature folder that serves it.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1/auth", crate::auth::router())
        .nest("/api/v1/auth/oauth", crate::oauth::router())
        .nest("/api/v1/tenants", crate::tenants::router())
        .nest("/api/v1/users", crate::users::router())
        .nest("/api/v1/projects", crate::projects::router())
        .nest("/api/v1/audit", crate::audit::handlers::router())
        .nest("/api/v1/api-keys", crate::integrations::api_keys::router())
        .nest("/api/v1/admin", crate::admin::router())
        .nest("/api/v1/webhooks", crate::integrations::webhooks::router())
        .nest("/api/v1/groups", crate::groups::router())
        .nest("/api/v1/scim", crate::scim::tokens_router())
        // `/api/v1/permissions`, `/api/v1/roles` and `/api/v1/users/{id}/roles`.
        .merge(crate::rbac::router())
}

/// The OpenAPI document (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes().split_for_parts().1;
    document_problems(&mut doc);
    doc
}

/// Every documented 4xx/5xx response is a problem+json body.
fn document_problems(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::{
        PartialSchema,
        openapi::{ContentBuilder, Ref, RefOr},
    };
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.insert("Problem".into(), error::Problem::schema());
    components
        .schemas
        .insert("FieldError".into(), error::FieldError::schema());
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (code, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && (code.starts_with('4') || code.starts_with('5'))
                    && response.content.is_empty()
                {
                    let problem = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build();
                    response.content.insert(error::PROBLEM_JSON.into(), RefOr::T(problem));
                }
            }
        }
    }
}

/// The `/health/detailed` checks beyond the database (email, redis, storage).
pub async fn extra_health_checks(state: &AppState) -> Vec<(&'static str, Value)> {
    vec![
        (
            "email",
            crate::email::health::check(&state.db, &state.email, state.config.email_worker_enabled).await,
        ),
        ("redis", state.limiter.health().await),
        ("storage", crate::storage::health(&state.storage).await),
    ]
}

/// The health handlers' view of the state: the database and the list above.
impl FromRef<AppState> for HealthChecks {
    fn from_ref(state: &AppState) -> Self {
        let state = state.clone();
        HealthChecks::new(state.db.clone(), move || {
            let state = state.clone();
            async move { extra_health_checks(&state).await }
        })
    }
}

/// Each dependency with its state and latency. Unauthenticated callers (load
/// balancers, monitors, anyone) see only `status`, `latency_ms` and, for email,
/// the active `provider` path; a super admin's bearer token shows every field.
#[utoipa::path(get, path = "/health/detailed", tag = "health", security((), ("bearer" = [])),
    responses((status = 200, description = "Checks"), (status = 503, description = "The database does not answer")))]
async fn health_detailed(
    State(probes): State<HealthChecks>,
    admin: Option<SuperAdmin>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let full = admin.is_some();
    // The platform transaction it holds is not needed: give its connection back.
    drop(admin);
    health::detailed(&probes, full).await
}

/// Builds the whole application with its middleware.
pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let (api, mut openapi) = api_routes()
        .routes(utoipa_axum::routes!(health::health))
        .routes(utoipa_axum::routes!(health_detailed))
        .routes(utoipa_axum::routes!(health::ready))
        .routes(utoipa_axum::routes!(middleware::render_metrics))
        .split_for_parts();
    document_problems(&mut openapi);

    let x_request_id = HeaderName::from_static("x-request-id");
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::exact(
            config
                .frontend_url
                .parse()
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("null")),
        ))
        .allow_methods(tower_http::cors::Any)
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::header::IF_MATCH,
            x_request_id.clone(),
        ])
        .expose_headers([
            x_request_id.clone(),
            axum::http::header::ETAG,
            axum::http::header::RETRY_AFTER,
            ratelimit::RATELIMIT.clone(),
            ratelimit::RATELIMIT_POLICY.clone(),
        ])
        .max_age(std::time::Duration::from_secs(600));

    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<_>| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_else(|| req.uri().path().to_owned());
            let empty = tracing::field::Empty;
            if crate::telemetry::traces_enabled() {
                // The same fields plus what an OpenTelemetry backend reads: the span
                // name "GET /api/v1/projects", its kind and, once answered, its status.
                tracing::info_span!("request", otel.name = format!("{} {route}", req.method()), otel.kind = "server",
                method = %req.method(), route, request_id, tenant_id = empty, user_id = empty,
                http.response.status_code = empty, otel.status_code = empty)
            } else {
                tracing::info_span!("request", method = %req.method(), route, request_id,
                tenant_id = empty, user_id = empty)
            }
        })
        .on_response(|res: &axum::http::Response<_>, latency, span: &tracing::Span| {
            span.record("http.response.status_code", i64::from(res.status().as_u16()));
            if res.status().is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
            tower_http::trace::OnResponse::on_response(tower_http::trace::DefaultOnResponse::new(), res, latency, span);
        });

    let mut app = Router::new()
        .merge(api)
        .merge(crate::console::router(state.clone()))
        // SCIM 2.0 for identity providers: its own bearer (a SCIM token), outside OpenAPI.
        .nest("/scim/v2", crate::scim::router())
        // validator "none": the UI would otherwise fetch a badge from validator.swagger.io.
        .merge(
            SwaggerUi::new("/docs")
                .url("/openapi.json", openapi)
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
        )
        .fallback(|| async { ApiError::NotFound("No such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(mw::from_fn(ratelimit::rate_limit_headers))
        .layer(mw::from_fn(middleware::record_metrics))
        .layer(axum::Extension(client_ip::ProxyPolicy {
            enabled: config.trust_proxy,
            trusted: config.trusted_proxies.clone(),
        }));
    if config.hsts {
        app = app.layer(mw::from_fn(middleware::hsts));
    }
    middleware::metrics_handle();
    let app: Router = app
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(mw::from_fn(middleware::problem_details))
                .layer(mw::from_fn(middleware::security_headers))
                .layer(CatchPanicLayer::new())
                .layer(cors)
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    config.request_timeout,
                ))
                .layer(mw::from_fn_with_state(
                    config.max_body_bytes,
                    middleware::settle_request_body,
                )),
        )
        .with_state(state);
    // Rewritten before routing, which a layer on `app` would be too late for.
    Router::new().fallback_service(tower::ServiceExt::map_request(app, middleware::trim_trailing_slash))
}
