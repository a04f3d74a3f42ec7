-- Issue 20: a registration that waited past the approval term escalated to the unit above
-- (RegistrationEscalated): while it is pending it counts as `accounts_overdue` in its unit's
-- subtree ("waiting over N days" on the dashboard).
ALTER TABLE registrations ADD COLUMN escalated boolean NOT NULL DEFAULT false;
