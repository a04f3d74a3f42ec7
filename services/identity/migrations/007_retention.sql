-- Retention (docs/personal-data.md, "Retention"): a member minimised years after they left comes
-- in members' MemberUpdated snapshot without a date of birth (nor phone hash); the replica drops
-- it too, and such a member matches no registration.
ALTER TABLE registry_members ALTER COLUMN date_of_birth DROP NOT NULL;
CREATE INDEX registrations_rejected ON registrations (decided_at) WHERE status = 'rejected';
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
