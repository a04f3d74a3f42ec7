-- Issue 20: a member on a temporary transfer attends the host cell's meetings (counted on its roll)
-- until the stay ends; their record stays with their home cell (`unit`).
ALTER TABLE readers ADD COLUMN temporary_unit text;
CREATE INDEX readers_temporary_unit ON readers (temporary_unit) WHERE temporary_unit IS NOT NULL;
