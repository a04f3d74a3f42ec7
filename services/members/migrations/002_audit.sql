-- The personal-data audit (DESIGN.md, "Personal data"): one row per read of members' records,
-- their history, a correction list or one's own record, with who read what of which members and
-- whether the identifiers were shown masked. Audit rows, and the change log member_history, are
-- only ever added to (the kit's append_only, sotay/kit/migrations/003_append_only.sql; and
-- deploy/postgres/roles.sql).
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

SELECT append_only('record_reads');
SELECT append_only('member_history');
