//! The doors of scope: who may open platform access and build a `TenantId`.

use super::*;

/// A background job's cross-tenant access is minted in `jobs.rs` only: a
/// job's code in its feature receives a `PlatformAccess` and cannot make one.
#[test]
fn only_jobs_mints_a_system_jobs_platform_access() {
    let found = unexpected_callers(".system_job(", &["jobs.rs"]);
    assert!(
        found.is_empty(),
        "`Db::system_job` called outside src/jobs.rs:\n{}",
        found.join("\n")
    );
    // The named accesses of `jobs.rs` are for `main` and the tests, not features.
    let found = unexpected_callers("crate::jobs", &["jobs.rs"]);
    assert!(
        found.is_empty(),
        "`crate::jobs` named from below:\n{}",
        found.join("\n")
    );
}

/// One-off commands (`seed`, `create-super-admin`, `rotate-keys`) open their
/// platform transactions through `Db::cli_command`, from their own modules.
#[test]
fn only_the_commands_use_the_cli_platform_access() {
    let found = unexpected_callers(
        ".cli_command(",
        &["main.rs", "bootstrap.rs", "seed.rs", "rotate_keys.rs"],
    );
    assert!(
        found.is_empty(),
        "`Db::cli_command` called outside the commands:\n{}",
        found.join("\n")
    );
}

/// Requests reach the platform handle through the super-admin extractors, or
/// one of the unauthenticated purposes `db::PreAuth` names and documents.
#[test]
fn requests_reach_the_platform_only_as_a_super_admin_or_a_named_pre_auth_purpose() {
    let extractors = ["db/mod.rs", "auth/extract.rs", "console/platform/mod.rs"];
    let found = unexpected_callers(".platform_tx(", &extractors);
    assert!(
        found.is_empty(),
        "`Db::platform_tx` called outside the super-admin extractors:\n{}",
        found.join("\n")
    );
    let found = unexpected_callers(".super_admin_access(", &["auth/extract.rs"]);
    assert!(
        found.is_empty(),
        "`Db::super_admin_access` called outside `SuperAdmin`:\n{}",
        found.join("\n")
    );
    // `/health/detailed` (email queue aggregates) and the SNS-signed SES webhook.
    let found = unexpected_callers(".pre_auth_platform_tx(", &["email/health.rs", "email/webhook.rs"]);
    assert!(
        found.is_empty(),
        "an unlisted pre-authentication platform transaction:\n{}",
        found.join("\n")
    );
}

/// Where a `TenantId` may be made from a bare uuid. Anywhere else, a tenant id
/// comes from the caller's context (`ctx.tenant_id`, `tx.tenant()`), from
/// `TenantId::SYSTEM`, or — for a super admin naming a tenant in a path or
/// body — from `PlatformTx::tenant`, which checks the tenant exists. A handler
/// turning request input into a `TenantId` by hand fails here.
const TRUSTED_TENANT_IDS: &[&str] = &[
    // The definition.
    "db/mod.rs",
    // Verified tokens: the access token (and the MFA step's token).
    "auth/extract.rs",
    "auth/handlers/login.rs",
    // Pre-authentication look-ups: login candidates, tenant by slug, SCIM
    // and API-key bearer tokens, a signed upload grant.
    "auth/signin.rs",
    "oauth/flow/mod.rs",
    "scim/auth.rs",
    "integrations/api_keys/authn.rs",
    "projects/uploads.rs",
    // System work on rows its own platform query read (webhook deliveries,
    // expired uploads; the key rotation command).
    "integrations/webhooks/worker.rs",
    "rotate_keys.rs",
];

#[test]
fn tenant_ids_are_made_from_bare_uuids_only_where_they_are_trusted() {
    let found = unexpected_callers("from_trusted(", TRUSTED_TENANT_IDS);
    assert!(
        found.is_empty(),
        "`TenantId::from_trusted` outside the trusted places (use the context's tenant, \
         `TenantId::SYSTEM` or `PlatformTx::tenant`):\n{}",
        found.join("\n")
    );
    for allowed in TRUSTED_TENANT_IDS {
        assert!(
            non_test_sources()
                .iter()
                .any(|(p, c)| p == allowed && c.contains("from_trusted(")),
            "src/{allowed} no longer needs to be listed in TRUSTED_TENANT_IDS"
        );
    }
}
