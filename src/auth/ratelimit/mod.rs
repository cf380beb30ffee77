//! Fixed-window rate limits: the sign-in endpoints (login, refresh, password
//! reset request, MFA verify) per client IP and per account, and every
//! authenticated request per principal and per tenant ([`RateLimiter::spend_chain`],
//! called from `auth::extract`, see [`api_budget`]).
//!
//! Counters live in memory by default. With REDIS_URL set they live in Redis,
//! updated by one Lua script (INCRBY + PEXPIRE, atomic on the server), so every
//! instance behind the load balancer spends the same budget. Keys are namespaced
//! by the database name (`tenantry:rl:<db>:…`): instances sharing a database
//! share limits, and two deployments on one Redis never collide.
//!
//! Redis trouble never fails a request: the limiter logs one warning, counts in
//! memory (limits are then per instance for a while) and asks Redis again after
//! a few seconds; it logs once more when Redis is back.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

mod api;
mod redis_backend;

pub use api::{ApiLimits, api_budget, request_cost};
use redis_backend::RedisBackend;

use crate::{config::Config, http::error::ApiError};

/// A budget: at most `max` events per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
        }
    }
}

/// Beyond this many keys the in-memory map drops expired windows.
const MEMORY_SWEEP_AT: usize = 10_000;

/// One budget of a chain after a spend: its count in the current window and
/// the whole seconds until the window resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    pub count: u64,
    pub reset_secs: u64,
}

/// The limiter on [`crate::app::AppState`].
pub struct RateLimiter {
    prefix: String,
    memory: Mutex<HashMap<String, Window>>,
    redis: Option<RedisBackend>,
}

struct Window {
    count: u64,
    resets_at: Instant,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("prefix", &self.prefix)
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Builds the limiter; the Redis connection (if any) is opened on first use.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let namespace = config
            .database_url
            .as_ref()
            .and_then(|u| url::Url::parse(u.expose()).ok())
            .map(|u| u.path().trim_start_matches('/').to_string())
            .filter(|db| !db.is_empty())
            .unwrap_or_else(|| "embedded".into());
        let redis = match &config.redis_url {
            Some(url) => {
                Some(RedisBackend::new(redis::Client::open(url.expose()).map_err(|e| {
                    anyhow::anyhow!("REDIS_URL is not a valid Redis URL: {e}")
                })?))
            }
            None => None,
        };
        Ok(Self {
            prefix: format!("tenantry:rl:{namespace}:"),
            memory: Mutex::new(HashMap::new()),
            redis,
        })
    }

    /// The `redis` entry of `/health/detailed`: `ok` with the round-trip time,
    /// `degraded` when Redis does not answer (limits are then per instance), or
    /// `disabled` without REDIS_URL.
    pub async fn health(&self) -> serde_json::Value {
        let Some(redis) = &self.redis else {
            return serde_json::json!({"status": "disabled", "backend": "memory"});
        };
        let start = Instant::now();
        let ping = async {
            let mut conn = redis.connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(Duration::from_secs(2), ping).await {
            Ok(Ok(_)) => serde_json::json!({"status": "ok", "backend": "redis",
                "latency_ms": start.elapsed().as_secs_f64() * 1000.0}),
            Ok(Err(e)) => serde_json::json!({"status": "degraded", "backend": "memory (redis unavailable)",
                "error": e.to_string()}),
            Err(_) => serde_json::json!({"status": "degraded", "backend": "memory (redis unavailable)",
                "error": "timed out"}),
        }
    }

    /// Counts one event for `key`; refuses it (429) once the budget is spent.
    pub async fn hit(&self, key: &str, limit: Limit) -> Result<(), ApiError> {
        let (count, retry_after) = self.add(key, 1, limit.window).await;
        if count > u64::from(limit.max) {
            Err(ApiError::RateLimited {
                retry_after_secs: retry_after,
            })
        } else {
            Ok(())
        }
    }

    /// Refuses (429) when `key` has already spent its budget, without counting
    /// this request (used for budgets that only failures consume).
    pub async fn check(&self, key: &str, limit: Limit) -> Result<(), ApiError> {
        let (count, retry_after) = self.add(key, 0, limit.window).await;
        if count >= u64::from(limit.max) {
            Err(ApiError::RateLimited {
                retry_after_secs: retry_after,
            })
        } else {
            Ok(())
        }
    }

    /// Adds `n` to the window of `key`: (count now, seconds until it resets).
    async fn add(&self, key: &str, n: u64, window: Duration) -> (u64, u64) {
        let key = format!("{}{key}", self.prefix);
        if let Some(redis) = &self.redis {
            if let Some(v) = redis.settle(redis.add(&key, n, window).await) {
                return v;
            }
        }
        let mut map = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let spent = add_in_memory(&mut map, key, n, window);
        (spent.count, spent.reset_secs)
    }

    /// Spends `cost` on each `(key, budget)` of `chain` (one window for all),
    /// in order, stopping after the first budget that is exceeded: later keys
    /// are read, not spent. One Redis round trip (one Lua script) or one lock.
    pub async fn spend_chain(&self, chain: &[(&str, u32)], cost: u64, window: Duration) -> Vec<Spent> {
        let keys: Vec<String> = chain.iter().map(|(k, _)| format!("{}{k}", self.prefix)).collect();
        if let Some(redis) = &self.redis {
            if let Some(v) = redis.settle(redis.spend_chain(&keys, chain, cost, window).await) {
                return v;
            }
        }
        let mut map = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let mut stopped = false;
        keys.into_iter()
            .zip(chain)
            .map(|(key, (_, max))| {
                let spent = add_in_memory(&mut map, key, if stopped { 0 } else { cost }, window);
                stopped |= spent.count > u64::from(*max);
                spent
            })
            .collect()
    }
}

/// Adds `n` to the window of `key` in the per-instance map.
fn add_in_memory(map: &mut HashMap<String, Window>, key: String, n: u64, window: Duration) -> Spent {
    let now = Instant::now();
    if map.len() >= MEMORY_SWEEP_AT {
        map.retain(|_, w| w.resets_at > now);
    }
    let w = map.entry(key).or_insert(Window {
        count: 0,
        resets_at: now + window,
    });
    if w.resets_at <= now {
        *w = Window {
            count: 0,
            resets_at: now + window,
        };
    }
    w.count += n;
    Spent {
        count: w.count,
        reset_secs: seconds_ceil(w.resets_at - now),
    }
}

/// Whole seconds, rounded up, at least 1 (a Retry-After of 0 invites a retry storm).
fn seconds_ceil(d: Duration) -> u64 {
    (d.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(&Config::from_map(HashMap::new()).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn memory_window_refuses_beyond_the_budget_and_resets() {
        let l = limiter();
        let limit = Limit {
            max: 2,
            window: Duration::from_millis(300),
        };
        assert!(l.hit("k", limit).await.is_ok());
        assert!(l.hit("k", limit).await.is_ok());
        let err = l.hit("k", limit).await.unwrap_err();
        assert!(matches!(err, ApiError::RateLimited { retry_after_secs: 1 }));
        assert!(l.hit("other", limit).await.is_ok());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(l.hit("k", limit).await.is_ok());
    }

    #[tokio::test]
    async fn a_chain_stops_spending_after_the_first_exceeded_budget() {
        let l = limiter();
        let w = Duration::from_secs(60);
        let spent = l.spend_chain(&[("p", 2), ("t", 10)], 1, w).await;
        assert_eq!((spent[0].count, spent[1].count), (1, 1));
        l.spend_chain(&[("p", 2), ("t", 10)], 1, w).await;
        let spent = l.spend_chain(&[("p", 2), ("t", 10)], 1, w).await;
        assert_eq!((spent[0].count, spent[1].count), (3, 2), "the tenant is not charged");
        let spent = l.spend_chain(&[("q", 2), ("t", 10)], 5, w).await;
        assert_eq!((spent[0].count, spent[1].count), (5, 2));
    }

    #[tokio::test]
    async fn api_budget_reports_both_policies_and_refuses_past_either() {
        let l = limiter();
        let limits = ApiLimits {
            per_principal: 2,
            per_tenant: 3,
        };
        let t = uuid::Uuid::new_v4();
        let (states, ok) = api_budget(&l, limits, "user:a", t, 1).await;
        assert!(ok.is_ok());
        assert_eq!((states[0].name, states[0].remaining), ("principal", 1));
        assert_eq!((states[1].name, states[1].remaining), ("tenant", 2));
        api_budget(&l, limits, "user:a", t, 1).await.1.unwrap();
        let (states, refused) = api_budget(&l, limits, "user:a", t, 1).await;
        assert!(matches!(refused, Err(ApiError::RateLimited { .. })));
        assert_eq!((states[0].remaining, states[1].remaining), (0, 1));
        api_budget(&l, limits, "user:b", t, 1).await.1.unwrap();
        let (_, refused) = api_budget(&l, limits, "user:c", t, 1).await;
        assert!(
            matches!(refused, Err(ApiError::RateLimited { .. })),
            "tenant budget spent"
        );
    }

    /// The limiter's per-request cost on the in-memory path (one `api_budget`:
    /// two keys, one lock). `cargo test --lib api_budget_cost -- --ignored --nocapture`;
    /// a debug build gives an upper bound.
    #[tokio::test]
    #[ignore]
    async fn api_budget_cost() {
        let l = limiter();
        let limits = ApiLimits {
            per_principal: u32::MAX,
            per_tenant: u32::MAX,
        };
        let tenants: Vec<uuid::Uuid> = (0..100).map(|_| uuid::Uuid::new_v4()).collect();
        let users: Vec<String> = (0..1000).map(|i| format!("user:{i}")).collect();
        let n = 200_000;
        let start = Instant::now();
        for i in 0..n {
            let (_, ok) = api_budget(&l, limits, &users[i % 1000], tenants[i % 100], 1).await;
            ok.unwrap();
        }
        let per = start.elapsed() / n as u32;
        println!("api_budget in memory: {per:?} per request over {n} requests");
    }

    /// The same through Redis (one script round trip), against `TENANTRY_BENCH_REDIS`
    /// (e.g. `redis://127.0.0.1:6379`).
    #[tokio::test]
    #[ignore]
    async fn api_budget_cost_redis() {
        let Ok(url) = std::env::var("TENANTRY_BENCH_REDIS") else {
            return;
        };
        let mut vars = HashMap::new();
        vars.insert("REDIS_URL".to_string(), url);
        vars.insert(
            "DATABASE_URL".to_string(),
            format!("postgres://x@127.0.0.1/bench_{}", uuid::Uuid::new_v4().simple()),
        );
        let l = RateLimiter::new(&Config::from_map(vars).unwrap()).unwrap();
        let limits = ApiLimits {
            per_principal: u32::MAX,
            per_tenant: u32::MAX,
        };
        let t = uuid::Uuid::new_v4();
        let n = 5_000;
        api_budget(&l, limits, "user:warm", t, 1).await.1.unwrap();
        let start = Instant::now();
        for i in 0..n {
            api_budget(&l, limits, &format!("user:{}", i % 50), t, 1)
                .await
                .1
                .unwrap();
        }
        assert!(
            !l.redis.as_ref().unwrap().down.load(Ordering::Relaxed),
            "Redis answered"
        );
        println!("api_budget through Redis: {:?} per request", start.elapsed() / n);
    }

    #[test]
    fn expensive_routes_cost_more() {
        assert_eq!(request_cost("/api/v1/projects"), 1);
        assert_eq!(request_cost("/api/v1/projects/{id}"), 1);
        assert_eq!(request_cost("/api/v1/users/bulk/create"), 10);
        assert_eq!(request_cost("/api/v1/audit/export"), 10);
        assert_eq!(request_cost("/api/v1/projects/search"), 5);
        assert_eq!(request_cost("/api/v1/projects/documents/upload"), 5);
        assert_eq!(request_cost("/api/v1/projects/documents/{id}/upload-complete"), 5);
    }

    #[tokio::test]
    async fn check_does_not_count() {
        let l = limiter();
        let limit = Limit::per_minute(1);
        assert!(l.check("k", limit).await.is_ok());
        assert!(l.check("k", limit).await.is_ok());
        l.hit("k", limit).await.unwrap();
        assert!(l.check("k", limit).await.is_err());
    }
}
