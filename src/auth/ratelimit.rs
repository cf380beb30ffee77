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
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

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

/// How long a failed Redis connection attempt keeps us on the in-memory path.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Beyond this many keys the in-memory map drops expired windows.
const MEMORY_SWEEP_AT: usize = 10_000;

const SCRIPT: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl}
";

/// Spends `ARGV[1]` on each key in turn (window `ARGV[2]` ms, budget `ARGV[2+i]`)
/// and stops spending after the first key that is over its budget: the later
/// ones are only read, so one caller hammering past its own budget does not
/// also drain the shared (tenant) one. Answers `{count, ttl_ms}` per key.
const CHAIN_SCRIPT: &str = r"
local out = {}
local stopped = false
for i, key in ipairs(KEYS) do
  local n
  if stopped then
    n = tonumber(redis.call('GET', key) or '0')
  else
    n = redis.call('INCRBY', key, ARGV[1])
  end
  local ttl = redis.call('PTTL', key)
  if ttl == -1 then
    redis.call('PEXPIRE', key, ARGV[2])
    ttl = tonumber(ARGV[2])
  elseif ttl < 0 then
    ttl = tonumber(ARGV[2])
  end
  if n > tonumber(ARGV[2 + i]) then stopped = true end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
";

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

struct RedisBackend {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    /// When Redis last failed; for [`REDIS_RETRY_AFTER`] after it the limiter
    /// counts in memory without asking (no request waits on a dead Redis).
    last_failure: Mutex<Option<Instant>>,
    /// Whether the last attempt failed: the warning and the recovery are logged once each.
    down: AtomicBool,
    script: redis::Script,
    chain: redis::Script,
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
            Some(url) => Some(RedisBackend {
                client: redis::Client::open(url.expose())
                    .map_err(|e| anyhow::anyhow!("REDIS_URL is not a valid Redis URL: {e}"))?,
                conn: OnceCell::new(),
                last_failure: Mutex::new(None),
                down: AtomicBool::new(false),
                script: redis::Script::new(SCRIPT),
                chain: redis::Script::new(CHAIN_SCRIPT),
            }),
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

impl RedisBackend {
    /// The answer of a Redis call, or `None` (count in memory) after a failure,
    /// which is logged once until Redis answers again.
    fn settle<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
        match result {
            Ok(v) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limiter: Redis is back; limits are shared again");
                }
                Some(v)
            }
            Err(e) => {
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = ?e.to_string(), "rate limiter: Redis unavailable, counting in memory (per instance) until it answers");
                }
                None
            }
        }
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        {
            let last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < REDIS_RETRY_AFTER) {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "recently unreachable; retrying later",
                )));
            }
        }
        if let Some(c) = self.conn.get() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let result = self
            .conn
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config))
            .await;
        result.cloned()
    }

    async fn spend_chain(
        &self,
        keys: &[String],
        chain: &[(&str, u32)],
        cost: u64,
        window: Duration,
    ) -> redis::RedisResult<Vec<Spent>> {
        let mut conn = self.connection().await?;
        let mut invocation = self.chain.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation.arg(cost).arg(window.as_millis().max(1) as u64);
        for (_, max) in chain {
            invocation.arg(*max);
        }
        let flat: Vec<i64> = invocation.invoke_async(&mut conn).await?;
        Ok(flat
            .chunks_exact(2)
            .map(|pair| Spent {
                count: pair[0].max(0) as u64,
                reset_secs: seconds_ceil(Duration::from_millis(pair[1].max(0) as u64)),
            })
            .collect())
    }

    async fn add(&self, key: &str, n: u64, window: Duration) -> redis::RedisResult<(u64, u64)> {
        let mut conn = self.connection().await?;
        let window_ms = window.as_millis().max(1) as u64;
        let (count, ttl_ms): (i64, i64) = self
            .script
            .key(key)
            .arg(n)
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok((
            count.max(0) as u64,
            seconds_ceil(Duration::from_millis(ttl_ms.max(0) as u64)),
        ))
    }
}

/// The per-minute budgets every authenticated request spends (see [`api_budget`]).
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Per principal (a user today; an API key is one more kind later).
    pub per_principal: u32,
    /// Per tenant, over all its principals.
    pub per_tenant: u32,
}

/// What a request costs in budget units: 1, more for the expensive routes.
/// `route` is the matched route template (`/api/v1/users/bulk/create`).
///
/// | route | units |
/// |---|---|
/// | bulk user create/action (`…/bulk/…`) | 10 |
/// | exports (`…/export`) | 10 |
/// | search (`…/search`), upload start and completion (`…/documents/upload`, `…/upload-complete`) | 5 |
/// | anything else | 1 |
///
/// The upload bytes themselves (`PUT …/content`) go to a signed URL without a
/// bearer token; their cost is charged when the upload is started.
pub fn request_cost(route: &str) -> u64 {
    if route.contains("/bulk/") || route.ends_with("/export") {
        10
    } else if route.ends_with("/search") || route.ends_with("/documents/upload") || route.ends_with("/upload-complete")
    {
        5
    } else {
        1
    }
}

/// Spends `cost` units of the principal's and then the tenant's one-minute
/// budget; answers the state of both for the `RateLimit` headers, and 429 when
/// either is exceeded. The tenant's budget is not spent by a principal that is
/// already over its own (one runaway client cannot starve its colleagues).
pub async fn api_budget(
    limiter: &RateLimiter,
    limits: ApiLimits,
    principal: &str,
    tenant: uuid::Uuid,
    cost: u64,
) -> (Vec<crate::http::ratelimit::QuotaState>, Result<(), ApiError>) {
    let window = Duration::from_secs(60);
    let principal_key = format!("api:p:{principal}");
    let tenant_key = format!("api:t:{tenant}");
    let chain = [
        (principal_key.as_str(), limits.per_principal),
        (tenant_key.as_str(), limits.per_tenant),
    ];
    let spent = limiter.spend_chain(&chain, cost, window).await;
    let mut verdict = Ok(());
    let states = ["principal", "tenant"]
        .into_iter()
        .zip(chain.iter().zip(&spent))
        .map(|(name, ((_, quota), s))| {
            if s.count > u64::from(*quota) && verdict.is_ok() {
                verdict = Err(ApiError::RateLimited {
                    retry_after_secs: s.reset_secs,
                });
            }
            crate::http::ratelimit::QuotaState {
                name,
                quota: *quota,
                window_secs: window.as_secs(),
                remaining: u64::from(*quota).saturating_sub(s.count),
                reset_secs: s.reset_secs,
            }
        })
        .collect();
    (states, verdict)
}

/// Whole seconds, rounded up, at least 1 (a Retry-After of 0 invites a retry storm).
fn seconds_ceil(d: Duration) -> u64 {
    (d.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
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
