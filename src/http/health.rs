//! Liveness, readiness and dependency health. No authentication, no tenant data.

use std::time::Instant;

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::{Value, json};

use crate::{app::AppState, auth::SuperAdmin};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 only when the database answers and no migration is pending.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let check = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.pending_migrations()).await;
    match check {
        Ok(Ok(0)) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(Ok(n)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": format!("{n} migrations pending")})),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": "database unreachable"})),
        ),
    }
}

/// Each dependency with its state and latency. Unauthenticated callers (load
/// balancers, monitors, anyone) see only `status`, `latency_ms` and, for email,
/// the active `provider` path (`ses+smtp`…): error text, hosts and queue sizes
/// tell an attacker too much. A super
/// admin's bearer token shows every field.
#[utoipa::path(get, path = "/health/detailed", tag = "health", security((), ("bearer" = [])),
    responses((status = 200, description = "Checks"), (status = 503, description = "The database does not answer")))]
pub async fn health_detailed(State(state): State<AppState>, admin: Option<SuperAdmin>) -> impl IntoResponse {
    let full = admin.is_some();
    drop(admin);
    let start = Instant::now();
    let db = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await;
    let db_ok = matches!(db, Ok(Ok(())));
    let database = json!({
        "status": if db_ok { "ok" } else { "error" },
        "latency_ms": start.elapsed().as_secs_f64() * 1000.0,
    });
    let mut checks = serde_json::Map::new();
    checks.insert("database".into(), database);
    for (name, check) in crate::http::extra_health_checks(&state).await {
        checks.insert(name.into(), check);
    }
    let all_ok = checks.values().all(|c| c["status"] != "error");
    if !full {
        for check in checks.values_mut() {
            *check = public_view(check);
        }
    }
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if all_ok { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "checks": checks,
        })),
    )
}

/// What anyone may see of a check: its status, latency and active provider.
fn public_view(check: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["status", "latency_ms", "provider"] {
        if let Some(v) = check.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}
