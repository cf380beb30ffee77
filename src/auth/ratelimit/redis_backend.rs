//! The Redis side of the limiter: one Lua script per spend, and the
//! "Redis is down, count in memory" bookkeeping.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{Spent, seconds_ceil};

/// How long a failed Redis connection attempt keeps us on the in-memory path.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);

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

pub(super) struct RedisBackend {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    /// When Redis last failed; for [`REDIS_RETRY_AFTER`] after it the limiter
    /// counts in memory without asking (no request waits on a dead Redis).
    last_failure: Mutex<Option<Instant>>,
    /// Whether the last attempt failed: the warning and the recovery are logged once each.
    pub(super) down: AtomicBool,
    script: redis::Script,
    chain: redis::Script,
}

impl RedisBackend {
    pub(super) fn new(client: redis::Client) -> Self {
        Self {
            client,
            conn: OnceCell::new(),
            last_failure: Mutex::new(None),
            down: AtomicBool::new(false),
            script: redis::Script::new(SCRIPT),
            chain: redis::Script::new(CHAIN_SCRIPT),
        }
    }
}

impl RedisBackend {
    /// The answer of a Redis call, or `None` (count in memory) after a failure,
    /// which is logged once until Redis answers again.
    pub(super) fn settle<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
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

    pub(super) async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
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

    pub(super) async fn spend_chain(
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

    pub(super) async fn add(&self, key: &str, n: u64, window: Duration) -> redis::RedisResult<(u64, u64)> {
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
