-- Extensions live in public, shared by every service's schema (each engine's
-- search_path is "<service>, public"). pg_trgm: accent-insensitive search on
-- folded text. A database where an earlier version created it inside a
-- service's schema gets it moved (pg_trgm is relocatable).
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                  WHERE e.extname = 'pg_trgm');
BEGIN
    IF home IS NULL THEN
        CREATE EXTENSION pg_trgm SCHEMA public;
    ELSIF home <> 'public' THEN
        ALTER EXTENSION pg_trgm SET SCHEMA public;
    END IF;
END $$;
