-- Audit trails are only ever added to (DESIGN.md, "Personal data"). A service's migration makes
-- one of its tables so with SELECT append_only('the_table'): a trigger refuses UPDATE, DELETE and
-- TRUNCATE to anyone, the owner included (the all-in-one mode runs a service as the owner), and
-- those rights are taken back from every role the owner had given them to (a service's role gets
-- them on a new table through the owner's default privileges, deploy/postgres/roles.sql).
CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit trail: its rows are never changed or deleted', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE FUNCTION append_only(audited regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    tbl text := (SELECT relname FROM pg_class WHERE oid = audited);
    grantee text;
BEGIN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION refuse_audit_change()', tbl || '_append_only', audited);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION refuse_audit_change()', tbl || '_no_truncate', audited);
    FOR grantee IN
        SELECT DISTINCT pg_get_userbyid(a.grantee)
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = audited AND a.grantee NOT IN (0, c.relowner)
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM %I', audited, grantee);
    END LOOP;
END
$$;
