-- API keys (issue 19): a tenant's non-person principals. Only the SHA-256 of
-- the key is stored; `prefix` is its first characters, for recognising a key in
-- lists. Names stay unique per tenant even after revocation, so the audit
-- principal `api_key:<name>` always names one key.

CREATE TABLE api_keys (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL,
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    permissions  text[] NOT NULL,
    created_by   uuid NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX api_keys_name ON api_keys (tenant_id, lower(name));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO tenantry_app, tenantry_platform;

-- Which tenant (and key id, for its rate-limit budget) a presented key belongs
-- to: the key arrives before the tenant is known (like `auth_token_tenant`).
-- Reveals nothing but these two ids of a valid hash; validity is checked
-- afterwards under the tenant's RLS.
CREATE FUNCTION api_key_tenant(p_hash bytea)
    RETURNS TABLE (tenant_id uuid, id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT k.tenant_id, k.id FROM api_keys k WHERE k.key_hash = p_hash
$$;
ALTER FUNCTION api_key_tenant(bytea) OWNER TO tenantry_platform;
REVOKE EXECUTE ON FUNCTION api_key_tenant(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_key_tenant(bytea) TO tenantry_app;
