-- The limit for GET /api/v1/projects/{id}: the minimal transaction returning the
-- same project (see minimal_list.sql). -D ppt=<projects per tenant> picks any of
-- the tenant's projects (ids as bench/seed.sh makes them).
\set k random(0, :ntok - 1)
\set t 1 + :k * :stride
\set j random(1, :ppt)
BEGIN;
SELECT set_config('app.tenant_id', md5('bench-tenant-' || :t)::uuid::text, true);
SELECT id, name, description, status, version, document_count, created_at, updated_at, created_by, updated_by FROM projects WHERE id = md5('bench-project-' || :t || '-' || :j)::uuid;
COMMIT;
