//! Audit actions: every `action` an audit row may carry, one enum variant
//! each. The text (`"project.created"`) is what the chain hashes, what
//! `GET /audit/logs?action=` filters on and what webhooks deliver as the
//! event type; it never changes for an existing variant.

/// Declares [`AuditAction`] from `Variant => "text"` pairs, so the list of
/// all actions cannot miss one.
macro_rules! audit_actions {
    ($($variant:ident => $text:literal,)*) => {
        /// What an audit row records as having happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            /// Every action, in declaration (alphabetical) order.
            pub const ALL: &'static [AuditAction] = &[$(Self::$variant,)*];

            /// The text stored in `audit_logs.action` and sent to webhooks.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
    };
}

audit_actions! {
    ApiKeyCreated => "api_key.created",
    ApiKeyRevoked => "api_key.revoked",
    AuthOauthLogin => "auth.oauth_login",
    AuthOauthLoginFailed => "auth.oauth_login_failed",
    DocumentCreated => "document.created",
    DocumentDeleted => "document.deleted",
    DocumentDownloaded => "document.downloaded",
    DocumentUpdated => "document.updated",
    DocumentUploadExpired => "document.upload_expired",
    DocumentUploadStarted => "document.upload_started",
    DocumentUploaded => "document.uploaded",
    EmailSuppressionDeleted => "email_suppression.deleted",
    EmailSuppressionUpserted => "email_suppression.upserted",
    GroupCreated => "group.created",
    GroupDeleted => "group.deleted",
    GroupMembersChanged => "group.members_changed",
    GroupRoleAdded => "group.role_added",
    GroupRoleRemoved => "group.role_removed",
    GroupUpdated => "group.updated",
    IdentityProviderCreated => "identity_provider.created",
    IdentityProviderDeleted => "identity_provider.deleted",
    IdentityProviderUpdated => "identity_provider.updated",
    ImpersonationEnded => "impersonation.ended",
    ImpersonationStarted => "impersonation.started",
    InvitationAccepted => "invitation.accepted",
    InvitationCreated => "invitation.created",
    MaintenanceCleanup => "maintenance.cleanup",
    ProjectCreated => "project.created",
    ProjectDeleted => "project.deleted",
    ProjectUpdated => "project.updated",
    RoleAssigned => "role.assigned",
    RoleAssignmentExpired => "role.assignment_expired",
    RoleCreated => "role.created",
    RoleDeleted => "role.deleted",
    RoleRevoked => "role.revoked",
    RoleUpdated => "role.updated",
    ScimTokenCreated => "scim_token.created",
    ScimTokenRevoked => "scim_token.revoked",
    SessionCreated => "session.created",
    SessionRevoked => "session.revoked",
    TenantActivated => "tenant.activated",
    TenantCreated => "tenant.created",
    TenantDeactivated => "tenant.deactivated",
    TenantDeleted => "tenant.deleted",
    TenantUpdated => "tenant.updated",
    UserActivated => "user.activated",
    UserBulkCreated => "user.bulk_created",
    UserCreated => "user.created",
    UserDeactivated => "user.deactivated",
    UserEmailVerified => "user.email_verified",
    UserIdentityLinked => "user.identity_linked",
    UserLocked => "user.locked",
    UserMfaDisabled => "user.mfa_disabled",
    UserMfaEnabled => "user.mfa_enabled",
    UserPasswordChanged => "user.password_changed",
    UserPasswordReset => "user.password_reset",
    UserPasswordResetRequested => "user.password_reset_requested",
    UserSessionsTerminated => "user.sessions_terminated",
    UserUnlocked => "user.unlocked",
    UserUpdated => "user.updated",
    WebhookCreated => "webhook.created",
    WebhookDeleted => "webhook.deleted",
    WebhookDisabled => "webhook.disabled",
    WebhookSecretRotated => "webhook.secret_rotated",
    WebhookUpdated => "webhook.updated",
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    /// The shape the `audit_logs` CHECK constraint allows, each text once,
    /// sorted (so the webhook event-type list derived from it is too).
    #[test]
    fn texts_are_well_formed_unique_and_sorted() {
        let texts: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "not sorted or not unique");
        for t in texts {
            let (resource, verb) = t.split_once('.').expect("resource.verb");
            assert!(!resource.is_empty() && !verb.is_empty(), "{t}");
            assert!(
                t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'),
                "{t}"
            );
        }
        assert_eq!(AuditAction::ProjectCreated.as_str(), "project.created");
    }
}
