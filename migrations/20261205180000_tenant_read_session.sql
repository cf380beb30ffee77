-- The session check as a single-statement tenant read (issue 20), like the
-- functions of 20261205170000: on a session-cache miss a request resolves its
-- caller in one round trip instead of inside a transaction of its own. One
-- indexed look-up: the session is live, the user and tenant active, and the
-- permissions of unexpired role assignments and of the user's groups' roles;
-- `valid_for_secs` bounds how long the answer may be cached. SECURITY INVOKER
-- with the role and `app.tenant_id` set for the statement: RLS applies.

CREATE FUNCTION tenant_read_session(p_tenant uuid, p_session uuid, p_user uuid)
    RETURNS TABLE (email text, first_name text, last_name text, is_super_admin boolean,
                   tenant_slug text, tenant_name text, permissions text[], valid_for_secs float8)
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('role', 'tenantry_app', true), set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT u.email, u.first_name, u.last_name, u.is_super_admin, t.slug, t.name,
               ARRAY(SELECT DISTINCT rp.permission FROM role_permissions rp
                     WHERE rp.tenant_id = s.tenant_id AND rp.role_id IN (
                         SELECT ur.role_id FROM user_roles ur
                         WHERE ur.tenant_id = s.tenant_id AND ur.user_id = s.user_id
                           AND (ur.expires_at IS NULL OR ur.expires_at > now())
                         UNION ALL
                         SELECT gr.role_id FROM group_members gm
                         JOIN group_roles gr ON gr.tenant_id = gm.tenant_id AND gr.group_id = gm.group_id
                         WHERE gm.tenant_id = s.tenant_id AND gm.user_id = s.user_id)),
               extract(epoch FROM least(s.expires_at,
                   (SELECT min(ur.expires_at) FROM user_roles ur
                    WHERE ur.tenant_id = s.tenant_id AND ur.user_id = s.user_id AND ur.expires_at > now())) - now()
               )::float8
        FROM user_sessions s
        JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
        JOIN tenants t ON t.id = s.tenant_id
        WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.user_id = p_user
          AND s.revoked_at IS NULL AND s.expires_at > now()
          AND u.is_active AND t.is_active;
END $$;

REVOKE ALL ON FUNCTION tenant_read_session(uuid, uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_read_session(uuid, uuid, uuid) TO tenantry_app;
