-- Issue 20: a data-subject request overdue at the member's unit escalates to the unit above
-- (SubjectRequestEscalated on its subject), once: when, and to which unit.
ALTER TABLE subject_requests ADD COLUMN escalated_at timestamptz, ADD COLUMN escalated_to text;
