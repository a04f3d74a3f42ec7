-- Counters kept per subtree instead of summed at read time.
--
-- Consumers append what their batch changed, per unit and metric, to
-- counter_deltas (no row is updated there, so consumers never wait on one
-- another). A single folder (the snapshot publisher's leader) moves those
-- rows into counters, adding each to the unit and every unit above it; the
-- units whose counters moved are the ones whose snapshots are due. Reads add
-- the rows not folded yet, so they are exact between folds.
--
-- Metric names: the counters of domain.COUNTERS, 'not_eligible:<reason>',
-- 'readers:<YYYY-MM-DD>' (accounts whose last read was that Hanoi day), and
-- 'touch' (n = 0: the unit's own figures changed, not its counters).

CREATE TABLE counter_deltas (
    unit   text NOT NULL,
    metric text NOT NULL,
    n      integer NOT NULL
);

-- A unit's counters are the sums over its whole subtree.
CREATE TABLE counters (
    unit   text NOT NULL,
    metric text NOT NULL,
    n      integer NOT NULL CHECK (n >= 0),
    PRIMARY KEY (unit, metric)
);

-- Deltas of units the tree did not know when they were folded: counted at the
-- city at once, and added to the unit and the units above it once it is known.
CREATE TABLE orphan_counters (
    unit   text NOT NULL,
    metric text NOT NULL,
    n      integer NOT NULL,
    PRIMARY KEY (unit, metric)
);

-- The old per-unit tables, as deltas (folded by the service on its first round).
INSERT INTO counter_deltas (unit, metric, n)
SELECT c.unit, m.metric, m.n
FROM unit_counts c
CROSS JOIN LATERAL (VALUES
    ('members_total', c.members_total), ('members_eligible', c.members_eligible),
    ('eligible_not_installed', c.eligible_not_installed), ('registered', c.registered),
    ('accounts_web', c.accounts_web), ('accounts_mobile', c.accounts_mobile),
    ('accounts_pending', c.accounts_pending), ('accounts_approved', c.accounts_approved),
    ('accounts_rejected', c.accounts_rejected), ('accounts_activated', c.accounts_activated),
    ('accounts_disabled', c.accounts_disabled), ('articles_published', c.articles_published),
    ('feedback_posted', c.feedback_posted), ('trained_people', c.trained_people),
    ('training_sessions', c.training_sessions)) AS m (metric, n)
WHERE m.n <> 0;
INSERT INTO counter_deltas (unit, metric, n) SELECT unit, 'not_eligible:' || reason, n FROM unit_ineligible WHERE n <> 0;
INSERT INTO counter_deltas (unit, metric, n) SELECT unit, 'readers:' || last_day, count(*) FROM readers GROUP BY 1, 2;
DROP TABLE unit_counts, unit_ineligible;

-- What was last published: the figures as sent (text: they are only read back
-- whole) and their digest. The history is no longer written every round but
-- once a day, from here (the figures last published each day).
ALTER TABLE published ALTER COLUMN figures TYPE text USING figures::text;
ALTER TABLE published ADD COLUMN digest bytea NOT NULL DEFAULT '';
