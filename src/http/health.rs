//! Liveness, readiness and dependency health. No authentication, no tenant data.
//!
//! The handlers take kernel types only ([`Db`], [`HealthChecks`]); which
//! dependencies beyond the database are checked is `crate::router`'s list.

use std::{future::Future, sync::Arc, time::Instant};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::db::Db;

/// Named checks, each a JSON object with a `status` (`"error"` marks it failed).
type Checks = dyn Fn() -> BoxFuture<'static, Vec<(&'static str, Value)>> + Send + Sync;

/// What `/health/detailed` probes: the database, then the checks the router lists.
#[derive(Clone)]
pub struct HealthChecks {
    db: Db,
    others: Arc<Checks>,
}

impl HealthChecks {
    /// `others` runs the checks beyond the database (email, redis, storage…).
    pub fn new<F, Fut>(db: Db, others: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<(&'static str, Value)>> + Send + 'static,
    {
        Self {
            db,
            others: Arc::new(move || Box::pin(others())),
        }
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 only when the database answers and no migration is pending.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
pub async fn ready(State(db): State<Db>) -> impl IntoResponse {
    let check = tokio::time::timeout(std::time::Duration::from_secs(2), db.pending_migrations()).await;
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

/// The body of `/health/detailed`: each dependency with its state and latency.
/// `full` is for a super admin (the router decides who that is); anyone else
/// sees only `status`, `latency_ms` and, for email, the active `provider` path
/// (`ses+smtp`…): error text, hosts and queue sizes tell an attacker too much.
pub async fn detailed(probes: &HealthChecks, full: bool) -> (StatusCode, Json<Value>) {
    let start = Instant::now();
    let db = tokio::time::timeout(std::time::Duration::from_secs(2), probes.db.ping()).await;
    let db_ok = matches!(db, Ok(Ok(())));
    let database = json!({
        "status": if db_ok { "ok" } else { "error" },
        "latency_ms": start.elapsed().as_secs_f64() * 1000.0,
    });
    let mut checks = serde_json::Map::new();
    checks.insert("database".into(), database);
    for (name, check) in (probes.others)().await {
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
