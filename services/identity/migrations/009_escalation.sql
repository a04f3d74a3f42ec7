-- Issue 20: a registration waiting at its unit longer than SOTAY_APPROVAL_OVERDUE_DAYS escalates
-- to the unit above (RegistrationEscalated on that unit's subject): when, and to which unit. The
-- approvers above see escalated registrations first.
ALTER TABLE registrations ADD COLUMN escalated_at timestamptz, ADD COLUMN escalated_to text;
CREATE INDEX registrations_to_escalate ON registrations (submitted_at) WHERE status = 'pending' AND escalated_at IS NULL;
