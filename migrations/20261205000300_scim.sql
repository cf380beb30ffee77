-- SCIM provisioning (issue 18): per-tenant SCIM bearer tokens, the SCIM view of
-- users (externalId, deletion by the identity provider) and tenant groups whose
-- roles their members inherit.

CREATE TABLE scim_tokens (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- SCIM's own attributes of a user: the identity provider's id for it, and the
-- moment it deleted the user (the row stays, deactivated; SCIM then answers 404).
ALTER TABLE users ADD COLUMN scim_external_id text CHECK (length(scim_external_id) <= 256);
ALTER TABLE users ADD COLUMN scim_deleted_at timestamptz;

CREATE TABLE groups (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 256),
    external_id  text CHECK (length(external_id) <= 256),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX groups_tenant_name ON groups (tenant_id, lower(display_name));

CREATE TABLE group_members (
    tenant_id uuid NOT NULL,
    group_id  uuid NOT NULL,
    user_id   uuid NOT NULL,
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (tenant_id, user_id);

CREATE TABLE group_roles (
    tenant_id  uuid NOT NULL,
    group_id   uuid NOT NULL,
    role_id    uuid NOT NULL,
    granted_by uuid,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_id, role_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['scim_tokens', 'groups', 'group_members', 'group_roles'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_current_tenant()) '
                       'WITH CHECK (tenant_id = app_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO tenantry_app, tenantry_platform', t);
    END LOOP;
END $$;

-- Which tenant a SCIM bearer token belongs to: the token arrives before the
-- tenant is known. Only live tokens of active tenants answer.
CREATE FUNCTION scim_token_tenant(p_hash bytea)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.tenant_id FROM scim_tokens s JOIN tenants t ON t.id = s.tenant_id
    WHERE s.token_hash = p_hash AND s.revoked_at IS NULL
      AND (s.expires_at IS NULL OR s.expires_at > now()) AND t.is_active
$$;
ALTER FUNCTION scim_token_tenant(bytea) OWNER TO tenantry_platform;
REVOKE EXECUTE ON FUNCTION scim_token_tenant(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scim_token_tenant(bytea) TO tenantry_app;
CREATE TRIGGER groups_updated_at BEFORE UPDATE ON groups FOR EACH ROW EXECUTE FUNCTION set_updated_at();
