//! The kinds of email the platform sends, and the context each one expects.
//!
//! Callers queue a kind plus a JSON object (see [`crate::email::outbox::enqueue`]).
//! The worker adds the common keys itself, so callers pass only what is specific:
//!
//! | kind | keys (all strings unless noted; `?` = optional) |
//! |---|---|
//! | `welcome` | `first_name?`, `token?` (set-password token: the mail then carries a set-password link, else a sign-in link), `expires_hours?` (number) |
//! | `password_reset` | `first_name?`, `token` (raw reset token), `expires_minutes?` (number) |
//! | `email_verification` | `first_name?`, `token` (raw verification token), `expires_hours?` (number) |
//! | `invitation` | `token` (raw invitation token), `inviter_name?`, `role_names?` (array of strings), `expires_hours?` (number) |
//! | `webhook_disabled` | `endpoint_url`, `endpoint_id`, `last_error?` (the last attempt's error) |
//! | `security_alert` | `first_name?`, `event` (`account_locked`, `password_changed`, `password_reset`, `mfa_enabled`, `mfa_disabled`, `new_sign_in`, `account_unlocked`, `impersonation_started`, or any other code), `occurred_at?`, `ip_address?`, `detail?`, `locked_minutes?` (number), `unlock_token?` (a lockout alert: rendered as the `{FRONTEND_URL}/unlock?token=` link) |
//!
//! Instead of `token`, a caller may pass a complete `link` (an absolute http(s)
//! URL); otherwise links are built from FRONTEND_URL. Common keys added at
//! render time: `app_name`, `tenant_name`, `tenant_slug`, `frontend_url`,
//! `to_email`, `link`. Raw tokens are removed from the stored context once the
//! message is sent, dead or suppressed.

use serde_json::{Value, json};

/// One of the email templates (matches the `email_outbox.template` CHECK constraint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTemplate {
    Welcome,
    PasswordReset,
    EmailVerification,
    Invitation,
    SecurityAlert,
    /// To a tenant's admins when a webhook endpoint is disabled after its retries ran out.
    WebhookDisabled,
}

impl EmailTemplate {
    /// Every template, in a stable order.
    pub const ALL: [EmailTemplate; 6] = [
        Self::Welcome,
        Self::PasswordReset,
        Self::EmailVerification,
        Self::Invitation,
        Self::SecurityAlert,
        Self::WebhookDisabled,
    ];

    /// The name stored in `email_outbox.template` and used for the template files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::Invitation => "invitation",
            Self::SecurityAlert => "security_alert",
            Self::WebhookDisabled => "webhook_disabled",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Frontend path that consumes this template's `token`.
    pub(crate) fn token_path(self) -> &'static str {
        match self {
            Self::Welcome => "set-password",
            Self::PasswordReset => "reset-password",
            Self::EmailVerification => "verify-email",
            Self::Invitation => "accept-invitation",
            Self::SecurityAlert => "security",
            Self::WebhookDisabled => "login",
        }
    }

    /// Keys a caller must provide (`token` may be replaced by `link`).
    pub(crate) fn required_keys(self) -> &'static [&'static str] {
        match self {
            Self::Welcome => &[],
            Self::PasswordReset | Self::EmailVerification | Self::Invitation => &["token"],
            Self::SecurityAlert => &["event"],
            Self::WebhookDisabled => &["endpoint_url", "endpoint_id"],
        }
    }

    /// Checks that `context` is an object holding this template's required keys.
    pub fn check_context(self, context: &Value) -> Result<(), String> {
        let Some(map) = context.as_object() else {
            return Err(format!("{} email context must be a JSON object", self.as_str()));
        };
        for key in self.required_keys() {
            let present = map.get(*key).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()));
            let replaced = *key == "token" && map.get("link").and_then(Value::as_str).is_some();
            if !present && !replaced {
                return Err(format!("{} email context needs the string `{key}`", self.as_str()));
            }
        }
        Ok(())
    }

    /// A context exercising every key (used to test-render at start-up).
    pub fn sample_context(self) -> Value {
        match self {
            Self::Welcome => {
                json!({"first_name": "Ada", "token": "sample-token", "expires_hours": 72})
            }
            Self::PasswordReset => {
                json!({"first_name": "Ada", "token": "sample-token", "expires_minutes": 60})
            }
            Self::EmailVerification => {
                json!({"first_name": "Ada", "token": "sample-token", "expires_hours": 48})
            }
            Self::Invitation => json!({"token": "sample-token", "inviter_name": "Grace Hopper",
                "role_names": ["user", "viewer"], "expires_hours": 168}),
            Self::SecurityAlert => {
                json!({"first_name": "Ada", "event": "account_locked", "locked_minutes": 30,
                "occurred_at": "2026-11-27T10:00:00Z", "ip_address": "203.0.113.7", "detail": "5 failed sign-ins"})
            }
            Self::WebhookDisabled => json!({"endpoint_url": "https://hooks.example.com/tenantry",
                "endpoint_id": "0190c8a2-0000-7000-8000-000000000001", "last_error": "the endpoint answered 503"}),
        }
    }
}

impl std::fmt::Display for EmailTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EmailTemplate::ALL {
            assert_eq!(EmailTemplate::parse(t.as_str()), Some(t));
        }
        assert_eq!(EmailTemplate::parse("nope"), None);
    }

    #[test]
    fn context_checks_required_keys() {
        assert!(
            EmailTemplate::PasswordReset
                .check_context(&json!({"first_name": "A"}))
                .is_err()
        );
        assert!(
            EmailTemplate::PasswordReset
                .check_context(&json!({"token": "t"}))
                .is_ok()
        );
        assert!(
            EmailTemplate::PasswordReset
                .check_context(&json!({"link": "https://x/y"}))
                .is_ok()
        );
        assert!(EmailTemplate::Welcome.check_context(&json!({})).is_ok());
        assert!(EmailTemplate::Welcome.check_context(&json!([])).is_err());
        for t in EmailTemplate::ALL {
            assert!(t.check_context(&t.sample_context()).is_ok(), "{t}");
        }
    }
}
