-- Per-project document counts kept by triggers, like the tenant's project
-- counter (20261127000700): a page of projects reads one column instead of
-- counting each project's documents with a sub-select per row (issue 20).
-- Kept on every path that adds, removes or moves a document (its own endpoints,
-- uploads, the expired-upload sweep, project and tenant deletion cascades).

ALTER TABLE projects ADD COLUMN document_count integer NOT NULL DEFAULT 0 CHECK (document_count >= 0);

-- A project's updated_at records edits of the project, not of its documents:
-- the counter's own updates leave it alone.
DROP TRIGGER projects_updated_at ON projects;
CREATE TRIGGER projects_updated_at BEFORE UPDATE ON projects FOR EACH ROW
    WHEN (OLD.document_count = NEW.document_count) EXECUTE FUNCTION set_updated_at();

UPDATE projects p SET document_count = d.n
FROM (SELECT tenant_id, project_id, count(*) AS n FROM documents GROUP BY tenant_id, project_id) d
WHERE p.tenant_id = d.tenant_id AND p.id = d.project_id;

CREATE FUNCTION documents_maintain_project_count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE projects SET document_count = document_count + 1
        WHERE tenant_id = NEW.tenant_id AND id = NEW.project_id;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        -- When a project (or its tenant) is being deleted, its row is already
        -- gone: nothing to update.
        UPDATE projects SET document_count = document_count - 1
        WHERE tenant_id = OLD.tenant_id AND id = OLD.project_id;
    END IF;
    RETURN NULL;
END
$$;
ALTER FUNCTION documents_maintain_project_count() OWNER TO tenantry_platform;
CREATE TRIGGER documents_maintain_project_count AFTER INSERT OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_maintain_project_count();
CREATE TRIGGER documents_move_project_count AFTER UPDATE OF tenant_id, project_id ON documents
    FOR EACH ROW WHEN (OLD.tenant_id <> NEW.tenant_id OR OLD.project_id <> NEW.project_id)
    EXECUTE FUNCTION documents_maintain_project_count();
