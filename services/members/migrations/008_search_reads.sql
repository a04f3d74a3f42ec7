-- Issue 19: a search or a unit's list shows members' names, cards and dates of birth: each page a
-- staff account is shown is audited like a correction list, what = 'search', purpose = 'registry'
-- (who, which members, under which grant). Changing a constraint changes no row: record_reads
-- stays append-only.
ALTER TABLE record_reads DROP CONSTRAINT record_reads_what_check,
    ADD CONSTRAINT record_reads_what_check
        CHECK (what IN ('record', 'history', 'corrections', 'self', 'reads', 'requests', 'search'));
