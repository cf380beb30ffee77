//! The event types a webhook may subscribe to: every audit action
//! ([`AuditAction::ALL`], so a new action is an event type without an edit
//! here), plus `webhook.test`.

use std::sync::LazyLock;

use crate::audit::AuditAction;

/// Subscribes to every event type.
pub const WILDCARD: &str = "*";

/// The ping sent by `POST /api/v1/webhooks/{id}/test`; not an audit action.
pub const TEST_EVENT: &str = "webhook.test";

/// Every event type, sorted: the audit actions and [`TEST_EVENT`].
pub fn event_types() -> &'static [&'static str] {
    static TYPES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let mut types: Vec<&'static str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        types.push(TEST_EVENT);
        types.sort_unstable();
        types.dedup();
        types
    });
    &TYPES
}

/// Whether a subscription may name `event_type`.
pub fn is_known(event_type: &str) -> bool {
    event_type == WILDCARD || event_types().binary_search(&event_type).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_holds_every_action_and_the_test_ping() {
        let types = event_types();
        assert!(types.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(types.len(), AuditAction::ALL.len() + 1);
        for action in AuditAction::ALL {
            assert!(is_known(action.as_str()), "{action} missing");
        }
        assert!(is_known(TEST_EVENT) && is_known(WILDCARD));
        assert!(!is_known("project.exploded"));
    }
}
