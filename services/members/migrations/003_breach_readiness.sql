-- Breach readiness (docs/breach-runbook.md): who read a member's records, when and why, and the
-- unusual reads flagged to the operator.
--
-- Each read from now on also says why it was made (its purpose: the task the route serves, known
-- where the read is made), in which role and over which unit the reader read, the reader's party
-- card when their token carries one (their name is then the registry's), and for a read of the
-- access history itself, the reason its caller gave (an incident's reference). Rows written before
-- keep these empty; their purpose is told from what was read. Adding columns and a constraint
-- changes no row: record_reads stays append-only (002_audit.sql).
ALTER TABLE record_reads
    ADD COLUMN purpose text
        CHECK (purpose IN ('registry', 'correction_review', 'self', 'access_review', 'breach_notification')),
    ADD COLUMN actor_role text,
    ADD COLUMN actor_unit text,
    ADD COLUMN actor_card text,
    ADD COLUMN reason text;
-- 'reads': a read of the access history (who read which members' records).
ALTER TABLE record_reads DROP CONSTRAINT record_reads_what_check,
    ADD CONSTRAINT record_reads_what_check CHECK (what IN ('record', 'history', 'corrections', 'self', 'reads'));
-- What one account read (the members an unusual account opened), in time order.
CREATE INDEX record_reads_actor ON record_reads (actor, at);

-- Full records each staff account opened, counted by the minute: the unusual-read check adds up an
-- account's last 60 minutes on each full read, and drops its older minutes as it reads on (at most
-- 60 rows an account). A counter, not a scan of the audit, so that the read path stays cheap.
CREATE TABLE record_read_counts (
    actor  text NOT NULL,
    minute timestamptz NOT NULL,
    reads  integer NOT NULL,
    PRIMARY KEY (actor, minute)
);

-- Unusual reads: a staff account that opened more full records within an hour than
-- SOTAY_UNUSUAL_READS_PER_HOUR (one alert an account an hour at most), open until an operator
-- closes it with what they found. Who read is said as the reads say it; never which members.
CREATE TABLE unusual_reads (
    id           uuid PRIMARY KEY,
    actor        text NOT NULL,
    actor_role   text,
    actor_unit   text,
    actor_card   text,
    reads        integer NOT NULL,
    threshold    integer NOT NULL,
    window_start timestamptz NOT NULL,
    raised_at    timestamptz NOT NULL,
    closed_at    timestamptz,
    closed_by    text,
    note         text
);
CREATE INDEX unusual_reads_actor ON unusual_reads (actor, raised_at);
CREATE INDEX unusual_reads_open ON unusual_reads (raised_at) WHERE closed_at IS NULL;
