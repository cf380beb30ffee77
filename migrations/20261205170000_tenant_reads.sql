-- Single-statement tenant reads (issue 20). The hottest reads — a page of
-- projects in the default order, a project by id, the caller's own summary —
-- run as ONE statement in an implicit transaction instead of BEGIN + settings,
-- the query and the rollback (three round trips). Each function first sets the
-- role and `app.tenant_id` for its own transaction (set_config(..., true), the
-- same settings a tenant transaction makes), then reads. It is SECURITY INVOKER
-- and its queries name no tenant, so Row-Level Security decides what it sees
-- exactly as in a tenant transaction; PL/pgSQL caches the plans per connection.
-- Called only through `db::TenantRead`, which binds the tenant from the
-- caller's verified token as the first argument.

CREATE FUNCTION tenant_read_projects(p_tenant uuid, p_limit integer, p_offset bigint)
    RETURNS TABLE (id uuid, name text, description text, status text, version integer,
                   document_count bigint, created_at timestamptz, updated_at timestamptz,
                   created_by uuid, updated_by uuid, total_count bigint)
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_total bigint;
BEGIN
    PERFORM set_config('role', 'tenantry_app', true), set_config('app.tenant_id', p_tenant::text, true);
    -- The trigger-kept counter, read once (as a sub-select in the page
    -- statement it cost ~10 % more); RLS lets only the tenant's own row through.
    SELECT t.project_count INTO v_total FROM tenants t WHERE t.id = p_tenant;
    RETURN QUERY
        SELECT p.id, p.name, p.description, p.status, p.version, p.document_count::bigint,
               p.created_at, p.updated_at, p.created_by, p.updated_by, v_total
        FROM projects p
        ORDER BY p.created_at DESC, p.id DESC
        LIMIT p_limit OFFSET p_offset;
END $$;

CREATE FUNCTION tenant_read_project(p_tenant uuid, p_id uuid)
    RETURNS TABLE (id uuid, name text, description text, status text, version integer,
                   document_count bigint, created_at timestamptz, updated_at timestamptz,
                   created_by uuid, updated_by uuid)
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('role', 'tenantry_app', true), set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT p.id, p.name, p.description, p.status, p.version, p.document_count::bigint,
               p.created_at, p.updated_at, p.created_by, p.updated_by
        FROM projects p WHERE p.id = p_id;
END $$;

CREATE FUNCTION tenant_read_user_summary(p_tenant uuid, p_user uuid)
    RETURNS TABLE (id uuid, email text, first_name text, last_name text, is_active boolean,
                   is_super_admin boolean, mfa_enabled boolean, email_verified_at timestamptz)
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('role', 'tenantry_app', true), set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_super_admin,
               u.mfa_enabled, u.email_verified_at
        FROM users u WHERE u.id = p_user;
END $$;

REVOKE ALL ON FUNCTION tenant_read_projects(uuid, integer, bigint),
    tenant_read_project(uuid, uuid), tenant_read_user_summary(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_read_projects(uuid, integer, bigint),
    tenant_read_project(uuid, uuid), tenant_read_user_summary(uuid, uuid) TO tenantry_app;
