-- Data-subject requests (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): a member asks to correct their
-- data, to restrict or object to a processing, to have data erased, or something else, in their own
-- words; their unit acknowledges within 2 working days and completes or refuses within 15 days,
-- extendable once by up to 15 days with a reason (services/members/workdays.py). The deadlines are
-- Hanoi days, computed when the request is received (the holiday calendar is data, not SQL).
-- A correction request (correction_requests) is also an entry here, linked by correction_id, and
-- its decision completes or refuses the entry. Which unit answers is the member's unit now (by
-- members.unit_path): a member who transfers takes their open requests with them.
CREATE TABLE subject_requests (
    id               uuid PRIMARY KEY,
    member_id        uuid NOT NULL REFERENCES members (id),
    requested_by     text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('correction', 'restriction', 'objection', 'erasure', 'other')),
    asked            text NOT NULL,
    correction_id    uuid UNIQUE REFERENCES correction_requests (id),
    status           text NOT NULL DEFAULT 'received'
                       CHECK (status IN ('received', 'acknowledged', 'extended', 'completed', 'refused')),
    received_at      timestamptz NOT NULL DEFAULT now(),
    acknowledge_by   date NOT NULL,
    due_by           date NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    extended_to      date,
    extension_reason text,
    decided_at       timestamptz,
    decided_by       text,
    outcome          text,
    CHECK ((extended_to IS NULL) = (extension_reason IS NULL)),
    CHECK ((status IN ('completed', 'refused')) = (outcome IS NOT NULL))
);
CREATE INDEX subject_requests_member ON subject_requests (member_id, received_at);
CREATE INDEX subject_requests_open ON subject_requests (due_by) WHERE status NOT IN ('completed', 'refused');
