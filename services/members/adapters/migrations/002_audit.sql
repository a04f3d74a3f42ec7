-- The personal-data audit (DESIGN.md, "Personal data"): one row per read of members' records,
-- their history, a correction list or one's own record, with who read what of which members and
-- whether the identifiers were shown masked. Audit rows, and the change log member_history, are
-- only ever added to: the service's role may not update, delete or truncate them (revoked here
-- from every role the owner granted them to, and in deploy/postgres/roles.sql), and a trigger
-- refuses it to anyone, the owner included (the all-in-one mode runs the service as the owner).
ALTER TABLE record_reads
    ADD COLUMN what text NOT NULL DEFAULT 'record' CHECK (what IN ('record', 'history', 'corrections', 'self')),
    ADD COLUMN member_ids uuid[],
    ADD COLUMN masked boolean NOT NULL DEFAULT false;
UPDATE record_reads SET member_ids = ARRAY[member_id];
ALTER TABLE record_reads
    ALTER COLUMN member_ids SET NOT NULL,
    ALTER COLUMN what DROP DEFAULT,
    ALTER COLUMN masked DROP DEFAULT,
    DROP COLUMN member_id;
CREATE INDEX record_reads_members ON record_reads USING gin (member_ids);

CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit trail: its rows are never changed or deleted', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER record_reads_append_only BEFORE UPDATE OR DELETE ON record_reads
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER record_reads_no_truncate BEFORE TRUNCATE ON record_reads
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER member_history_append_only BEFORE UPDATE OR DELETE ON member_history
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER member_history_no_truncate BEFORE TRUNCATE ON member_history
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();

-- The service's role got UPDATE and DELETE on these tables through the owner's default
-- privileges (roles.sql) when they were created: taken back from every role but the owner.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT pg_get_userbyid(a.grantee)
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid IN ('record_reads'::regclass, 'member_history'::regclass)
          AND a.grantee NOT IN (0, c.relowner) AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON record_reads, member_history FROM %I', grantee);
    END LOOP;
END
$$;
