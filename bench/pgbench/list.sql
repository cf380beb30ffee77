-- The transaction GET /api/v1/projects?page=1&page_size=20 runs, minus the
-- per-request authentication query: the tenant transaction of src/db/mod.rs
-- (Db::tenant_tx) and the one statement of list_projects in src/projects/repo.rs
-- (no search, no status filter, default sort: the page and the tenant's project
-- counter together). Keep in sync.
-- pgbench -D ntok=<tokens> -D stride=<tenants/tokens>: the same tenants the
-- HTTP tokens belong to. With no filters the statement has no parameters, as there.
\set k random(0, :ntok - 1)
\set t 1 + :k * :stride
BEGIN;
SELECT set_config('role', 'tenantry_app', true), set_config('app.tenant_id', md5('bench-tenant-' || :t)::uuid::text, true);
SELECT p.id, p.name, p.description, p.status, p.version, p.document_count::bigint AS document_count, p.created_at, p.updated_at, p.created_by, p.updated_by, (SELECT project_count::bigint FROM tenants WHERE id = app_current_tenant()) AS total_count FROM projects p ORDER BY p.created_at DESC, p.id DESC LIMIT 20 OFFSET 0;
COMMIT;
