//! The event types a webhook may subscribe to: every audit action the code
//! writes, plus `webhook.test`. A unit test walks `src/` so an action added
//! without being listed here fails the build's tests.

/// Subscribes to every event type.
pub const WILDCARD: &str = "*";

/// The ping sent by `POST /api/v1/webhooks/{id}/test`; not an audit action.
pub const TEST_EVENT: &str = "webhook.test";

/// Every event type, sorted.
pub const EVENT_TYPES: &[&str] = &[
    "api_key.created",
    "api_key.revoked",
    "auth.oauth_login",
    "auth.oauth_login_failed",
    "document.created",
    "document.deleted",
    "document.downloaded",
    "document.updated",
    "document.upload_expired",
    "document.upload_started",
    "document.uploaded",
    "email_suppression.deleted",
    "email_suppression.upserted",
    "group.created",
    "group.deleted",
    "group.members_changed",
    "group.role_added",
    "group.role_removed",
    "group.updated",
    "identity_provider.created",
    "identity_provider.deleted",
    "identity_provider.updated",
    "impersonation.ended",
    "impersonation.started",
    "invitation.accepted",
    "invitation.created",
    "maintenance.cleanup",
    "project.created",
    "project.deleted",
    "project.updated",
    "role.assigned",
    "role.assignment_expired",
    "role.created",
    "role.deleted",
    "role.revoked",
    "role.updated",
    "scim_token.created",
    "scim_token.revoked",
    "session.created",
    "session.revoked",
    "tenant.activated",
    "tenant.created",
    "tenant.deactivated",
    "tenant.deleted",
    "tenant.updated",
    "user.activated",
    "user.bulk_created",
    "user.created",
    "user.deactivated",
    "user.email_verified",
    "user.identity_linked",
    "user.locked",
    "user.mfa_disabled",
    "user.mfa_enabled",
    "user.password_changed",
    "user.password_reset",
    "user.password_reset_requested",
    "user.sessions_terminated",
    "user.unlocked",
    "user.updated",
    "webhook.created",
    "webhook.deleted",
    "webhook.disabled",
    "webhook.secret_rotated",
    "webhook.test",
    "webhook.updated",
];

/// Whether a subscription may name `event_type`.
pub fn is_known(event_type: &str) -> bool {
    event_type == WILDCARD || EVENT_TYPES.binary_search(&event_type).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique() {
        assert!(EVENT_TYPES.windows(2).all(|w| w[0] < w[1]));
    }

    /// Every `AuditEvent::new("action"` literal in the source (and the actions
    /// chosen at run time in `mfa.rs` and `tenants/service.rs`) is listed.
    #[test]
    fn every_audit_action_in_the_source_is_listed() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("webhooks/events.rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for part in text.split("AuditEvent::new(").skip(1) {
                        let part = part.trim_start();
                        if let Some(rest) = part.strip_prefix('"') {
                            let action = rest.split('"').next().unwrap();
                            // The shape the audit_logs CHECK constraint allows (skips prose in docs).
                            let shaped = action.contains('.')
                                && action.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.');
                            if shaped {
                                found.push(action.to_string());
                            }
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.len() > 20, "the scan found the audit calls");
        let missing: Vec<_> = found.iter().filter(|a| !is_known(a)).collect();
        assert!(
            missing.is_empty(),
            "audit actions missing from EVENT_TYPES: {missing:?}"
        );
    }
}
