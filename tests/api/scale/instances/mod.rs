//! Two `tenantry serve` processes over one database and one Redis behave as one
//! service. This file starts the pair; the tests are grouped by what crosses
//! instances.

mod outbox;
mod sessions;
mod shutdown;

use reqwest::StatusCode;

use super::{Instance, Redis};
use crate::helpers::*;

/// Instances A and B over `app`'s database and `redis`; `vars` apply to both.
async fn pair(app: &TestApp, redis: &Redis, vars: &[(&str, &str)]) -> (Instance, Instance) {
    let mut all = vec![("REDIS_URL", redis.url.as_str())];
    all.extend_from_slice(vars);
    let env = Instance::env(&app.db.url, &all);
    // A applies migrations at start (a no-op here), B trusts them: both are valid.
    let a = Instance::start("A", &env, &["serve"]).await;
    let b = Instance::start("B", &env, &["serve", "--no-migrate"]).await;
    (a, b)
}

async fn status_of(client: &reqwest::Client, instance: &Instance, token: &str) -> StatusCode {
    client
        .get(instance.url("/api/v1/auth/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}
