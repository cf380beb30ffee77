-- A per-tenant project counter, so an unfiltered project list answers its total
-- from one row instead of counting the tenant's projects on every request.
-- Kept by a trigger (any insert or delete path, including cascades); the
-- tenant row is already locked by project creation for the max_projects check,
-- so the counter adds no new contention there.

ALTER TABLE tenants ADD COLUMN project_count integer NOT NULL DEFAULT 0 CHECK (project_count >= 0);
UPDATE tenants t SET project_count = (SELECT count(*) FROM projects p WHERE p.tenant_id = t.id);

CREATE FUNCTION projects_maintain_count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE tenants SET project_count = project_count + 1 WHERE id = NEW.tenant_id;
    ELSE
        -- During a tenant's deletion its row is already gone: nothing to update.
        UPDATE tenants SET project_count = project_count - 1 WHERE id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END
$$;
ALTER FUNCTION projects_maintain_count() OWNER TO tenantry_platform;
CREATE TRIGGER projects_maintain_count AFTER INSERT OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION projects_maintain_count();
