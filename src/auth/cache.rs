//! A short-lived, per-instance cache of resolved sessions, so most requests skip
//! the per-request session/permission query.
//!
//! Staleness is bounded three ways:
//! * every entry lives at most `AUTH_CACHE_TTL_MS` (default 2 s), and never past
//!   the session's expiry or the next expiry of one of the user's role assignments;
//! * any transaction this instance commits in a tenant invalidates that tenant's
//!   entries, and any cross-tenant one every entry ([`crate::db::commit_generation`]),
//!   so a logout, deactivation or role change is seen at once by the instance
//!   that made it;
//! * other instances see such a change within the TTL.
//!
//! It also remembers, for the same TTL, the access tokens whose signature and
//! claims it verified ([`AuthCache::verified`]): a client sends one token with
//! every request, and decoding and checking it was ~4 % of a read's CPU.
//!
//! `AUTH_CACHE_TTL_MS=0` turns the cache off (every request asks PostgreSQL).

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::{
    auth::jwt::Claims,
    db::{AnyRow, Columns, FromRead},
    integrations::api_keys::authn::ResolvedKey,
    rbac::grants::Permissions,
};

/// What the session query resolves; shared by cache hits.
#[derive(Debug, Clone)]
pub struct ResolvedSession {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_super_admin: bool,
    pub tenant_slug: String,
    pub tenant_name: String,
    /// Parsed once, when the session is resolved, not on every cache hit.
    pub permissions: Permissions,
    /// Seconds until the session or the next role assignment expires.
    pub valid_for_secs: f64,
}

impl FromRead for ResolvedSession {
    fn from_read<R: AnyRow>(c: &mut Columns<'_, R>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            email: c.next()?,
            first_name: c.next()?,
            last_name: c.next()?,
            is_super_admin: c.next()?,
            tenant_slug: c.next()?,
            tenant_name: c.next()?,
            permissions: Permissions::from(c.next::<Vec<String>>()?),
            valid_for_secs: c.next()?,
        })
    }
}

struct Entry {
    key: (Uuid, Uuid, Uuid),
    generation: u64,
    valid_until: Instant,
    session: Arc<ResolvedSession>,
}

/// A resolved API key, keyed by the key's hash; invalidated like a session
/// by commits in its tenant.
struct KeyEntry {
    tenant: Uuid,
    generation: u64,
    valid_until: Instant,
    key: Arc<ResolvedKey>,
}

/// An access token that verified, with its claims.
struct TokenEntry {
    valid_until: Instant,
    claims: Claims,
}

/// Keyed by session id; the tenant and user of the token must match too.
/// API keys have their own map, keyed by the key's SHA-256; verified access
/// tokens theirs, keyed by the whole token.
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<Expiring<Uuid, Entry>>,
    keys: Mutex<Expiring<[u8; 32], KeyEntry>>,
    tokens: Mutex<Expiring<Box<str>, TokenEntry>>,
}

/// Bound on entries; past it the map is cleared (a burst of distinct sessions
/// just falls back to the database).
const MAX_ENTRIES: usize = 100_000;

/// Below this size a map is never swept.
const MIN_SWEEP: usize = 1_024;

/// A map of entries that expire. Every sign-in adds a session that is never
/// asked about again once its token is gone, so expired entries are swept out
/// whenever the map has doubled since the last sweep: it holds at most about
/// twice the entries still alive (a 30-minute soak grew RSS by ~1 MB a minute
/// when they were only dropped at `MAX_ENTRIES`). The sweep's cost is spread
/// over the inserts that doubled the map.
struct Expiring<K, V> {
    map: HashMap<K, V>,
    sweep_at: usize,
}

trait Expires {
    fn valid_until(&self) -> Instant;
}

impl<K: Eq + Hash, V: Expires> Expiring<K, V> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
            sweep_at: MIN_SWEEP,
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map.get(key)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.len() >= self.sweep_at {
            let now = Instant::now();
            self.map.retain(|_, v| v.valid_until() > now);
            if self.map.len() >= MAX_ENTRIES {
                self.map.clear();
            }
            self.map.shrink_to(self.map.len() * 2);
            self.sweep_at = (self.map.len() * 2).max(MIN_SWEEP);
        }
        self.map.insert(key, value);
    }
}

impl Expires for Entry {
    fn valid_until(&self) -> Instant {
        self.valid_until
    }
}

impl Expires for KeyEntry {
    fn valid_until(&self) -> Instant {
        self.valid_until
    }
}

impl Expires for TokenEntry {
    fn valid_until(&self) -> Instant {
        self.valid_until
    }
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(Expiring::new()),
            keys: Mutex::new(Expiring::new()),
            tokens: Mutex::new(Expiring::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    pub fn get(&self, tenant: Uuid, session: Uuid, user: Uuid) -> Option<Arc<ResolvedSession>> {
        if !self.enabled() {
            return None;
        }
        let generation = crate::db::commit_generation(tenant);
        let entries = self.entries.lock().expect("auth cache poisoned");
        let e = entries.get(&session)?;
        (e.key == (tenant, session, user) && e.generation == generation && Instant::now() < e.valid_until)
            .then(|| e.session.clone())
    }

    /// Stores what was resolved at `generation` (read before the query ran, so a
    /// commit racing with the query invalidates the entry).
    pub fn put(&self, tenant: Uuid, session: Uuid, user: Uuid, generation: u64, resolved: Arc<ResolvedSession>) {
        if !self.enabled() {
            return;
        }
        let lifetime = self.ttl.min(Duration::from_secs_f64(resolved.valid_for_secs.max(0.0)));
        let mut entries = self.entries.lock().expect("auth cache poisoned");
        entries.insert(
            session,
            Entry {
                key: (tenant, session, user),
                generation,
                valid_until: Instant::now() + lifetime,
                session: resolved,
            },
        );
    }
}

impl AuthCache {
    /// The claims of `token` when this exact token verified within the TTL.
    /// The same bytes verify the same way against the same keys, so a hit
    /// only needs the expiry, which no entry outlives.
    pub fn verified(&self, token: &str) -> Option<Claims> {
        if !self.enabled() {
            return None;
        }
        let tokens = self.tokens.lock().expect("auth cache poisoned");
        let e = tokens.get(token)?;
        (Instant::now() < e.valid_until).then(|| e.claims.clone())
    }

    /// Remembers that `token` verified with `claims`, for the TTL at most and
    /// never past its `exp`.
    pub fn put_verified(&self, token: &str, claims: &Claims) {
        let left = claims.exp - time::OffsetDateTime::now_utc().unix_timestamp();
        if !self.enabled() || left <= 0 {
            return;
        }
        let lifetime = self.ttl.min(Duration::from_secs(left as u64));
        let mut tokens = self.tokens.lock().expect("auth cache poisoned");
        tokens.insert(
            token.into(),
            TokenEntry {
                valid_until: Instant::now() + lifetime,
                claims: claims.clone(),
            },
        );
    }

    pub fn get_key(&self, hash: &[u8; 32]) -> Option<Arc<ResolvedKey>> {
        if !self.enabled() {
            return None;
        }
        let keys = self.keys.lock().expect("auth cache poisoned");
        let e = keys.get(hash)?;
        (e.generation == crate::db::commit_generation(e.tenant) && Instant::now() < e.valid_until)
            .then(|| e.key.clone())
    }

    /// Like [`AuthCache::put`]: `generation` was read before the query ran.
    pub fn put_key(&self, hash: [u8; 32], tenant: Uuid, generation: u64, resolved: Arc<ResolvedKey>) {
        if !self.enabled() {
            return;
        }
        let lifetime = self.ttl.min(Duration::from_secs_f64(resolved.valid_for_secs.max(0.0)));
        let mut keys = self.keys.lock().expect("auth cache poisoned");
        keys.insert(
            hash,
            KeyEntry {
                tenant,
                generation,
                valid_until: Instant::now() + lifetime,
                key: resolved,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(valid_for_secs: f64) -> Arc<ResolvedSession> {
        Arc::new(ResolvedSession {
            email: "a@b.c".into(),
            first_name: String::new(),
            last_name: String::new(),
            is_super_admin: false,
            tenant_slug: "t".into(),
            tenant_name: "T".into(),
            permissions: Permissions::default(),
            valid_for_secs,
        })
    }

    #[test]
    fn hits_only_for_the_same_token_identity_and_generation() {
        let c = AuthCache::new(Duration::from_secs(5));
        let (t, s, u) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        c.put(t, s, u, crate::db::commit_generation(t), resolved(60.0));
        assert!(c.get(t, s, u).is_some());
        assert!(
            c.get(t, s, Uuid::new_v4()).is_none(),
            "another user's token with this sid"
        );
        let other = Uuid::from_u128(t.as_u128() + 1);
        crate::db::bump_commit_generation(Some(crate::db::TenantId::from_trusted(other)));
        assert!(c.get(t, s, u).is_some(), "a commit in another tenant leaves it");
        crate::db::bump_commit_generation(Some(crate::db::TenantId::from_trusted(t)));
        assert!(c.get(t, s, u).is_none(), "a commit in its tenant invalidates");
        c.put(t, s, u, crate::db::commit_generation(t), resolved(60.0));
        crate::db::bump_commit_generation(None);
        assert!(c.get(t, s, u).is_none(), "a cross-tenant commit invalidates");
    }

    fn claims(exp_in: i64) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            sub: Uuid::new_v4(),
            tid: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            iat: now,
            exp: now + exp_in,
            iss: "tenantry".into(),
            aud: "access".into(),
            act: None,
        }
    }

    #[test]
    fn a_verified_token_is_remembered_by_its_exact_text_within_ttl_and_expiry() {
        let c = AuthCache::new(Duration::from_millis(50));
        let verified = claims(60);
        c.put_verified("header.payload.signature", &verified);
        assert_eq!(
            c.verified("header.payload.signature").map(|h| h.sid),
            Some(verified.sid)
        );
        assert!(c.verified("header.payload.signaturf").is_none(), "another text");
        assert!(c.verified("header.payload.signature ").is_none(), "another text");
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.verified("header.payload.signature").is_none(), "past the TTL");

        c.put_verified("expired", &claims(0));
        assert!(c.verified("expired").is_none(), "a token at its expiry is not kept");
        let off = AuthCache::new(Duration::ZERO);
        off.put_verified("t", &claims(60));
        assert!(off.verified("t").is_none(), "AUTH_CACHE_TTL_MS=0 turns it off");
    }

    #[test]
    fn expiring_grants_bound_the_lifetime_and_zero_ttl_disables() {
        let c = AuthCache::new(Duration::from_secs(5));
        let (t, s, u) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        c.put(t, s, u, crate::db::commit_generation(t), resolved(0.0));
        assert!(c.get(t, s, u).is_none());
        let off = AuthCache::new(Duration::ZERO);
        off.put(t, s, u, crate::db::commit_generation(t), resolved(60.0));
        assert!(off.get(t, s, u).is_none());
    }

    #[test]
    fn expired_sessions_are_swept_and_the_map_stays_near_its_live_size() {
        let cache = AuthCache::new(Duration::from_millis(20));
        let tenant = Uuid::new_v4();
        // Many sign-ins whose sessions are never asked about again.
        for _ in 0..3 * MIN_SWEEP {
            cache.put(tenant, Uuid::new_v4(), Uuid::new_v4(), 0, resolved(60.0));
        }
        std::thread::sleep(Duration::from_millis(30));
        let live = Uuid::new_v4();
        for _ in 0..2 * MIN_SWEEP {
            cache.put(tenant, Uuid::new_v4(), Uuid::new_v4(), 0, resolved(60.0));
        }
        cache.put(tenant, live, live, 0, resolved(60.0));
        let entries = cache.entries.lock().unwrap();
        assert!(
            entries.map.len() <= 2 * MIN_SWEEP + 1,
            "expired entries were kept: {}",
            entries.map.len()
        );
        assert!(entries.map.contains_key(&live), "a live entry survives the sweep");
    }
}
