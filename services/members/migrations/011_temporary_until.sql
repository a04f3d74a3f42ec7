-- Issue 20: a temporary transfer (chuyển sinh hoạt tạm thời) has an end date: the member attends
-- the host cell until then and returns to their home cell on that day (a job of members), or
-- earlier by a decision. The home cell keeps the registry record throughout.
ALTER TABLE members ADD COLUMN temporary_until date;
CREATE INDEX members_temporary_until ON members (temporary_until) WHERE temporary_until IS NOT NULL;
