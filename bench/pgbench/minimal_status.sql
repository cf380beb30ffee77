-- The limit for GET /api/v1/auth/status: the minimal transaction returning the
-- caller's user row (the summary the endpoint answers; the tenant and the
-- permissions come from the session check, cached by the server).
-- -D upt=<users per tenant>.
\set k random(0, :ntok - 1)
\set t 1 + :k * :stride
\set u random(1, :upt)
BEGIN;
SELECT set_config('app.tenant_id', md5('bench-tenant-' || :t)::uuid::text, true);
SELECT id, email, first_name, last_name, is_active, is_super_admin, mfa_enabled, email_verified_at FROM users WHERE id = md5('bench-user-' || :t || '-' || :u)::uuid;
COMMIT;
