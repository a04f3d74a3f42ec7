-- Issue 19: a member may ask that processing of their data be restricted (a data-subject request).
-- While restricted_at is set, the registry keeps the record (Party rules) but its events carry
-- nothing of the person, and every replica drops what it holds of them (docs/personal-data.md).
ALTER TABLE members ADD COLUMN restricted_at timestamptz;
