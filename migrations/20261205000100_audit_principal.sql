-- A caller that is not a person (an API key, a SCIM token) is named in the audit
-- row as `api_key:<name>` / `scim:<name>`. The hash covers it when it is set;
-- rows without it hash exactly as before, so existing chains keep verifying.
ALTER TABLE audit_logs ADD COLUMN actor_principal text;

CREATE OR REPLACE FUNCTION audit_row_digest(r audit_logs) RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(
        r.prev_hash || convert_to((
            jsonb_build_array(
                r.tenant_id, r.id, r.seq, to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                r.actor_id, r.impersonator_id, r.action, r.resource_type, r.resource_id,
                r.old_values, r.new_values, r.ip_address, r.user_agent, r.request_id)
            || CASE WHEN r.actor_principal IS NULL THEN '[]'::jsonb
                    ELSE jsonb_build_array(r.actor_principal) END)::text, 'UTF8'))
$$;
