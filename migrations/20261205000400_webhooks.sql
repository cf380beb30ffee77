-- Outbound webhooks (issue 19): endpoints a tenant registers, and the outbox of
-- deliveries. A delivery row is written by a trigger on audit_logs, so it
-- commits (or rolls back) with the change it reports: a rolled-back change
-- sends nothing by construction.

CREATE TABLE webhook_endpoints (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    url                 text NOT NULL,
    description         text NOT NULL DEFAULT '',
    event_types         text[] NOT NULL,
    -- Sealed with ENCRYPTION_KEY (context: tenant and endpoint id); signing needs it.
    secret_enc          bytea NOT NULL,
    -- The secret before the last rotation: deliveries carry both signatures until it expires.
    previous_secret_enc bytea,
    previous_expires_at timestamptz,
    enabled             boolean NOT NULL DEFAULT true,
    disabled_reason     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
-- The trigger below asks this on every audit row: cheap when the tenant has none.
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (tenant_id) WHERE enabled;

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO tenantry_app, tenantry_platform;

CREATE TABLE webhook_deliveries (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    -- Order of the events of one endpoint (delivered strictly in this order).
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    endpoint_id      uuid NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    response_status  integer,
    latency_ms       integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, seq);

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO tenantry_app, tenantry_platform;

-- One delivery per enabled endpoint of the tenant subscribed to the action
-- (or to `*`). Runs as the writer of the audit row, under its RLS.
CREATE FUNCTION webhook_enqueue() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_type, payload)
    SELECT NEW.tenant_id, gen_random_uuid(), e.id, NEW.action,
           jsonb_build_object(
               'type', NEW.action,
               'timestamp', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', jsonb_build_object(
                   'resource_type', NEW.resource_type,
                   'resource_id', NEW.resource_id,
                   'actor_id', NEW.actor_id,
                   'actor_principal', NEW.actor_principal,
                   'values', NEW.new_values))
    FROM webhook_endpoints e
    WHERE e.tenant_id = NEW.tenant_id AND e.enabled
      AND (NEW.action = ANY (e.event_types) OR '*' = ANY (e.event_types));
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_logs_webhooks AFTER INSERT ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION webhook_enqueue();
