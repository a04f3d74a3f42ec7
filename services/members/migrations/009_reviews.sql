-- Issue 20: the yearly review and ranking of members (kiểm điểm, đánh giá, xếp loại đảng viên),
-- services/members/domain/reviews.py. The city opens a cycle per year with its two deadlines
-- (Hanoi days) and the share of a unit's members that may be rated excellent before the deciding
-- unit is warned. A member's review of a year holds their self-assessment and the level they
-- propose, the level their cell proposes with its comment, and the level the unit with authority
-- decided; a member who wrote nothing gets a row when the cell proposes for them. Which cell and
-- unit act is the member's unit now (members.unit_path); `unit_id` is the cell the member was in
-- when the review was last acted on, as its history shows it.
CREATE TABLE review_cycles (
    year                integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 2100),
    self_assessment_due date NOT NULL,
    decision_due        date NOT NULL,
    excellent_cap_pct   integer NOT NULL DEFAULT 20 CHECK (excellent_cap_pct BETWEEN 1 AND 100),
    opened_by           text NOT NULL,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (decision_due >= self_assessment_due)
);

CREATE TABLE reviews (
    id              uuid PRIMARY KEY,
    year            integer NOT NULL REFERENCES review_cycles (year),
    member_id       uuid NOT NULL REFERENCES members (id),
    unit_id         uuid NOT NULL REFERENCES org_units (id),
    self_assessment text,
    proposed_level  text CHECK (proposed_level IN ('excellent', 'good', 'done', 'not_done')),
    submitted_at    timestamptz,
    cell_level      text CHECK (cell_level IN ('excellent', 'good', 'done', 'not_done')),
    cell_comment    text,
    cell_by         text,
    cell_at         timestamptz,
    decided_level   text CHECK (decided_level IN ('excellent', 'good', 'done', 'not_done')),
    decided_unit_id uuid REFERENCES org_units (id),
    decided_by      text,
    decided_at      timestamptz,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (year, member_id),
    CHECK (num_nulls(self_assessment, proposed_level, submitted_at) IN (0, 3)),
    CHECK (num_nulls(cell_level, cell_comment, cell_by, cell_at) IN (0, 4)),
    CHECK (num_nulls(decided_level, decided_unit_id, decided_by, decided_at) IN (0, 4)),
    CHECK (decided_level IS NULL OR cell_level IS NOT NULL)
);
CREATE INDEX reviews_member ON reviews (member_id, year);

-- Staff reading members' reviews (names and their own words, the cell's comments): audited as the
-- data-subject request lists are, what = 'reviews', purpose = 'yearly_review'. Changing a
-- constraint changes no row: record_reads stays append-only.
ALTER TABLE record_reads DROP CONSTRAINT record_reads_what_check,
    ADD CONSTRAINT record_reads_what_check
        CHECK (what IN ('record', 'history', 'corrections', 'self', 'reads', 'requests', 'search', 'reviews'));
ALTER TABLE record_reads DROP CONSTRAINT record_reads_purpose_check,
    ADD CONSTRAINT record_reads_purpose_check
        CHECK (purpose IN ('registry', 'correction_review', 'self', 'access_review', 'breach_notification',
                           'request_review', 'yearly_review'));
