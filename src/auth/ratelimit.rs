//! Fixed-window rate limits for the sign-in endpoints (login, refresh, password
//! reset request, MFA verify), per client IP and per account.
//!
//! Counters live in memory by default. With REDIS_URL set they live in Redis,
//! updated by one Lua script (INCRBY + PEXPIRE, atomic on the server), so every
//! instance behind the load balancer spends the same budget. Keys are namespaced
//! by the database name (`tenantry:rl:<db>:…`): instances sharing a database
//! share limits, and two deployments on one Redis never collide.
//!
//! Redis trouble never fails a request: the limiter logs a warning and counts in
//! memory until Redis answers again (limits are then per instance for a while).

use std::{
    collections::HashMap,
    sync::Mutex,
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
    last_failure: Mutex<Option<Instant>>,
    script: redis::Script,
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
                script: redis::Script::new(SCRIPT),
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
            match redis.add(&key, n, window).await {
                Ok(v) => return v,
                Err(e) => tracing::warn!(error = ?e.to_string(), "rate limiter: Redis unavailable, counting in memory"),
            }
        }
        self.add_in_memory(key, n, window)
    }

    fn add_in_memory(&self, key: String, n: u64, window: Duration) -> (u64, u64) {
        let now = Instant::now();
        let mut map = self.memory.lock().unwrap_or_else(|p| p.into_inner());
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
        (w.count, seconds_ceil(w.resets_at - now))
    }
}

impl RedisBackend {
    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(c) = self.conn.get() {
            return Ok(c.clone());
        }
        {
            let last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < REDIS_RETRY_AFTER) {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "recently unreachable; retrying later",
                )));
            }
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let result = self
            .conn
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config))
            .await;
        match result {
            Ok(c) => Ok(c.clone()),
            Err(e) => {
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                Err(e)
            }
        }
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
    async fn check_does_not_count() {
        let l = limiter();
        let limit = Limit::per_minute(1);
        assert!(l.check("k", limit).await.is_ok());
        assert!(l.check("k", limit).await.is_ok());
        l.hit("k", limit).await.unwrap();
        assert!(l.check("k", limit).await.is_err());
    }
}
