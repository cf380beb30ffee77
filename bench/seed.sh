#!/usr/bin/env bash
# Seeds a benchmark data set straight into a migrated tenantry database with
# generate_series, as the superuser (RLS does not apply to it), in chunks so a
# progress bar can be drawn. Idempotent: the database comment records what was
# seeded, and a database already holding the same data set is left alone.
#
#   bench/seed.sh URL TENANTS PROJECTS_PER_TENANT USERS_PER_TENANT DOCUMENTS PASSWORD_HASH
#
# Ids are deterministic so the load scripts can compute them without asking the
# database:  tenant k   = md5('bench-tenant-k')::uuid,       slug bench-0000k
#            user i     = md5('bench-user-k-i')::uuid,       email u<i>@t<k>.bench.test
#            project j  = md5('bench-project-k-j')::uuid,    j = 1 is the newest
# Roles and role_permissions match what tenant creation makes (the four system
# roles with the permissions of `system_role_permissions` in src/rbac/permission.rs);
# user i holds the system role number (i-1) mod 4: tenant_admin, project_manager,
# user, viewer.
set -euo pipefail

url=$1 tenants=$2 ppt=$3 upt=$4 docs=$5 hash=$6
signature="tenantry-bench tenants=$tenants projects_per_tenant=$ppt users_per_tenant=$upt documents=$docs v1"

psql_q() { psql "$url" -v ON_ERROR_STOP=1 -qAtX "$@"; }

current=$(psql_q -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")
if [[ "$current" == "$signature" ]]; then
  echo "  data set already seeded ($signature)"
  exit 0
fi
if [[ -n "$current" ]] || [[ $(psql_q -c "SELECT count(*) FROM projects") != 0 ]]; then
  echo "seed.sh: $url already holds other data; drop the database first" >&2
  exit 1
fi

bar() { # done total label
  local width=40 filled=$(($1 * 40 / $2))
  printf '\r  %-10s [%-*s] %3d%% (%d/%d)' "$3" "$width" "$(printf '%*s' "$filled" '' | tr ' ' '#')" \
    $(($1 * 100 / $2)) "$1" "$2"
}

start=$(date +%s)
echo "  seeding $tenants tenants x $ppt projects, $upt users/tenant, $docs documents"

# Tenants, roles, permissions, users, role assignments: small, one transaction.
psql_q -v tenants="$tenants" -v upt="$upt" -v ppt="$ppt" -v hash="$hash" <<'SQL'
SET synchronous_commit = off;
BEGIN;
INSERT INTO tenants (id, slug, name, max_users, max_projects)
SELECT md5('bench-tenant-' || k)::uuid, 'bench-' || lpad(k::text, 5, '0'), 'Bench tenant ' || k,
       greatest(:upt * 2, 100), 100000000
FROM generate_series(1, :tenants) k;

CREATE TEMP TABLE bench_system_roles (ord int, name text, description text, perms text[]) ON COMMIT DROP;
INSERT INTO bench_system_roles VALUES
  (0, 'tenant_admin', 'Full control of the tenant', (SELECT array_agg(name) FROM permissions)),
  (1, 'project_manager', 'Manages projects and documents; reads users',
      '{projects:create,projects:read,projects:update,projects:delete,documents:create,documents:read,documents:update,documents:delete,documents:download,users:read}'),
  (2, 'user', 'Works on projects and documents',
      '{projects:read,projects:create,projects:update,documents:read,documents:create,documents:update,documents:download}'),
  (3, 'viewer', 'Reads projects and documents', '{projects:read,documents:read}');

INSERT INTO roles (tenant_id, id, name, description, is_system)
SELECT md5('bench-tenant-' || k)::uuid, md5('bench-role-' || k || '-' || r.name)::uuid, r.name, r.description, true
FROM generate_series(1, :tenants) k CROSS JOIN bench_system_roles r;

INSERT INTO role_permissions (tenant_id, role_id, permission)
SELECT md5('bench-tenant-' || k)::uuid, md5('bench-role-' || k || '-' || r.name)::uuid, p
FROM generate_series(1, :tenants) k CROSS JOIN bench_system_roles r CROSS JOIN unnest(r.perms) p;

INSERT INTO users (tenant_id, id, email, first_name, last_name, password_hash, email_verified_at)
SELECT md5('bench-tenant-' || k)::uuid, md5('bench-user-' || k || '-' || i)::uuid,
       'u' || i || '@t' || k || '.bench.test', 'User' || i, 'Tenant' || k, :'hash', now()
FROM generate_series(1, :tenants) k CROSS JOIN generate_series(1, :upt) i;

INSERT INTO user_roles (tenant_id, user_id, role_id)
SELECT md5('bench-tenant-' || k)::uuid, md5('bench-user-' || k || '-' || i)::uuid,
       md5('bench-role-' || k || '-' || r.name)::uuid
FROM generate_series(1, :tenants) k CROSS JOIN generate_series(1, :upt) i
JOIN bench_system_roles r ON r.ord = (i - 1) % 4;
COMMIT;
SQL
echo "  tenants, roles, users: done ($(($(date +%s) - start)) s)"

# Bulk loads run faster without the secondary indexes (the GIN full-text index
# above all): note their exact definitions, drop them, and rebuild them after.
index_defs=$(psql_q -c "SELECT string_agg(pg_get_indexdef(i.indexrelid), E';\\n') || ';'
  FROM pg_index i WHERE i.indrelid IN ('projects'::regclass, 'documents'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)")
psql_q >/dev/null <<'SQL'
SELECT format('DROP INDEX %s', i.indexrelid::regclass)
FROM pg_index i WHERE i.indrelid IN ('projects'::regclass, 'documents'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \gexec
SQL

# Projects: chunks of tenants, one transaction each.
chunk=$(( (tenants + 39) / 40 ))
for ((first = 1; first <= tenants; first += chunk)); do
  last=$((first + chunk - 1 < tenants ? first + chunk - 1 : tenants))
  bar $((first - 1)) "$tenants" projects
  psql_q -v first="$first" -v last="$last" -v ppt="$ppt" <<'SQL'
SET synchronous_commit = off;
-- Row triggers (the per-tenant project counter) are off while bulk loading; the
-- counters are set once at the end.
SET session_replication_role = replica;
INSERT INTO projects (tenant_id, id, name, description, status, created_at, updated_at, created_by)
SELECT md5('bench-tenant-' || k)::uuid, md5('bench-project-' || k || '-' || j)::uuid,
       'Project ' || j || ' ' || (ARRAY['apollo','borealis','cygnus','draco','eridanus','fornax','gemini','hydra'])[1 + j % 8],
       'Benchmark project ' || j || ' of tenant ' || k || ': ' ||
           (ARRAY['migration of the billing stack','quarterly audit preparation','customer onboarding revamp',
                  'data warehouse consolidation','mobile release train','security hardening'])[1 + (j * 7 + k) % 6],
       (ARRAY['active','active','active','on_hold','completed','archived'])[1 + j % 6],
       now() - make_interval(mins => j) - make_interval(secs => k % 60),
       now() - make_interval(mins => j) - make_interval(secs => k % 60),
       md5('bench-user-' || k || '-1')::uuid
FROM generate_series(:first, :last) k CROSS JOIN generate_series(1, :ppt) j;
SQL
done
bar "$tenants" "$tenants" projects
echo " ($(($(date +%s) - start)) s)"

# Documents: spread round-robin over tenants, then over each tenant's newest projects.
if ((docs > 0)); then
  dchunk=$(( (docs + 19) / 20 ))
  for ((first = 0; first < docs; first += dchunk)); do
    last=$((first + dchunk - 1 < docs - 1 ? first + dchunk - 1 : docs - 1))
    bar "$first" "$docs" documents
    psql_q -v first="$first" -v last="$last" -v tenants="$tenants" -v ppt="$ppt" <<'SQL'
SET synchronous_commit = off;
INSERT INTO documents (tenant_id, id, project_id, name, description, content_type, status, size_bytes,
                       sha256, storage_key, uploaded_at, created_at, updated_at, created_by)
SELECT md5('bench-tenant-' || k)::uuid, md5('bench-doc-' || n)::uuid, md5('bench-project-' || k || '-' || j)::uuid,
       'document-' || n || '.pdf', 'Benchmark document ' || n, 'application/pdf', 'uploaded',
       10000 + n % 90000, md5('a' || n) || md5('b' || n), 'bench/' || n,
       now() - make_interval(secs => n), now() - make_interval(secs => n), now() - make_interval(secs => n),
       md5('bench-user-' || k || '-1')::uuid
FROM (SELECT n, 1 + n % :tenants AS k, 1 + (n / :tenants) % :ppt AS j
      FROM generate_series(:first, :last) n) d;
SQL
  done
  bar "$docs" "$docs" documents
  echo " ($(($(date +%s) - start)) s)"
fi

echo -n "  rebuilding $(grep -c . <<<"$index_defs") indexes..."
psql_q <<SQL
SET maintenance_work_mem = '256MB';
$index_defs
SQL
echo " ($(($(date +%s) - start)) s)"

echo -n "  vacuum analyze..."
psql_q <<SQL
UPDATE tenants t SET storage_used_bytes = s.bytes
FROM (SELECT tenant_id, sum(size_bytes) AS bytes FROM documents GROUP BY tenant_id) s WHERE s.tenant_id = t.id;
UPDATE tenants t SET project_count = (SELECT count(*) FROM projects p WHERE p.tenant_id = t.id);
VACUUM (ANALYZE) tenants, users, roles, role_permissions, user_roles, projects, documents;
COMMENT ON DATABASE $(psql_q -c "SELECT quote_ident(current_database())") IS '$signature';
SQL
echo " done; seeding took $(($(date +%s) - start)) s"
