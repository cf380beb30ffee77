-- One-time unlock links mailed with the lockout alert (issue 13): the owner of a
-- locked account can end the lock. Stored as SHA-256 only, like the other
-- emailed tokens; single use; expire when the lock would end (at most 1 h).

CREATE TABLE account_unlock_tokens (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    user_id    uuid NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX account_unlock_tokens_user ON account_unlock_tokens (tenant_id, user_id);

ALTER TABLE account_unlock_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE account_unlock_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON account_unlock_tokens
    USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON account_unlock_tokens TO tenantry_app, tenantry_platform;

-- Which tenant an opaque token (stored hashed) belongs to; now also unlock links.
-- CREATE OR REPLACE keeps the owner (tenantry_platform) and the grants.
CREATE OR REPLACE FUNCTION auth_token_tenant(p_kind text, p_hash bytea)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT CASE p_kind
        WHEN 'refresh' THEN (SELECT tenant_id FROM refresh_tokens WHERE token_hash = p_hash)
        WHEN 'password_reset' THEN (SELECT tenant_id FROM password_reset_tokens WHERE token_hash = p_hash)
        WHEN 'email_verification' THEN (SELECT tenant_id FROM email_verification_tokens WHERE token_hash = p_hash)
        WHEN 'invitation' THEN (SELECT tenant_id FROM invitations WHERE token_hash = p_hash)
        WHEN 'unlock' THEN (SELECT tenant_id FROM account_unlock_tokens WHERE token_hash = p_hash)
    END
$$;
