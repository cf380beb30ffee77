-- The limit of issue 20 for GET /api/v1/projects?page=1&page_size=20: the minimal
-- transaction that returns the same page, run by pgbench connected as
-- tenantry_app (PGOPTIONS='-c role=tenantry_app', so RLS applies): the tenant
-- setting, the page's columns (document_count is a trigger-kept column since
-- migration 20261205140000), COMMIT. No authentication, no total, no tie-break.
-- pgbench -D ntok=<tenants used> -D stride=<tenants/ntok>: the same tenants the
-- HTTP tokens belong to (bench/ratio.sh).
\set k random(0, :ntok - 1)
\set t 1 + :k * :stride
BEGIN;
SELECT set_config('app.tenant_id', md5('bench-tenant-' || :t)::uuid::text, true);
SELECT id, name, description, status, version, document_count, created_at, updated_at, created_by, updated_by FROM projects ORDER BY created_at DESC LIMIT 20;
COMMIT;
