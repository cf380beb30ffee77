-- Storage quota follows the document rows: whichever path deletes a document
-- (its own endpoint, a project delete, the expired-upload sweep, maintenance
-- cleanup), the bytes it reserved are released from its tenant's counter in the
-- same transaction. Reservations are added by the upload endpoint, which locks
-- the tenant row to check the limit.
CREATE FUNCTION documents_release_storage() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.size_bytes IS NOT NULL AND OLD.size_bytes > 0 THEN
        UPDATE tenants SET storage_used_bytes = GREATEST(0, storage_used_bytes - OLD.size_bytes)
        WHERE id = OLD.tenant_id;
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER documents_release_storage AFTER DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_release_storage();
