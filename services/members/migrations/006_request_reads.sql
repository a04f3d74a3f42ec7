-- Staff reading the data-subject requests of their units (a member's name, card and own words):
-- audited as the correction lists are, what = 'requests', purpose = 'request_review'. Changing a
-- constraint changes no row: record_reads stays append-only.
ALTER TABLE record_reads DROP CONSTRAINT record_reads_what_check,
    ADD CONSTRAINT record_reads_what_check
        CHECK (what IN ('record', 'history', 'corrections', 'self', 'reads', 'requests'));
ALTER TABLE record_reads DROP CONSTRAINT record_reads_purpose_check,
    ADD CONSTRAINT record_reads_purpose_check
        CHECK (purpose IN ('registry', 'correction_review', 'self', 'access_review', 'breach_notification',
                           'request_review'));
