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
//! `AUTH_CACHE_TTL_MS=0` turns the cache off (every request asks PostgreSQL).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::integrations::api_keys::authn::ResolvedKey;

/// What the session query resolves; shared by cache hits.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResolvedSession {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_super_admin: bool,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub permissions: Vec<String>,
    /// Seconds until the session or the next role assignment expires.
    pub valid_for_secs: f64,
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

/// Keyed by session id; the tenant and user of the token must match too.
/// API keys have their own map, keyed by the key's SHA-256.
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, Entry>>,
    keys: Mutex<HashMap<[u8; 32], KeyEntry>>,
}

/// Bound on entries; past it the map is cleared (a burst of distinct sessions
/// just falls back to the database).
const MAX_ENTRIES: usize = 100_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
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
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
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
        if keys.len() >= MAX_ENTRIES {
            keys.clear();
        }
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
            permissions: vec![],
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
}
