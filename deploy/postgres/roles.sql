-- PostgreSQL roles of sotay, least privilege (deploy/README.md, "Least privilege:
-- NATS users and PostgreSQL roles"):
--
--   sotay_owner      owns the services' schemas and everything in them; `sotay migrate`
--                    connects as it. It may create schemas in this database, nothing more
--                    (not a superuser, no CREATEDB, no CREATEROLE).
--   sotay_<service>  what `sotay serve <service>` connects as (members, identity, content,
--                    metrics, webhooks): USAGE on its own schema, SELECT, INSERT, UPDATE and DELETE on
--                    its tables, its sequences; nothing on the other schemas, and it may
--                    create nothing. Tables later migrations create are granted to it as
--                    well (ALTER DEFAULT PRIVILEGES). Its audit tables it may only read and
--                    add to (members.record_reads, members.member_history, identity.audit_log,
--                    identity.consents).
--
-- Run it with psql as a superuser, connected to the sotay database:
--
--   psql -v ON_ERROR_STOP=1 -d sotay -f deploy/postgres/roles.sql \
--        -v owner_password=… -v members_password=… -v identity_password=… \
--        -v content_password=… -v metrics_password=… -v webhooks_password=…
--
-- A password not given with -v is read from the environment (psql 15 or later):
-- PG_OWNER_PASSWORD, PG_MEMBERS_PASSWORD, PG_IDENTITY_PASSWORD, PG_CONTENT_PASSWORD,
-- PG_METRICS_PASSWORD, PG_WEBHOOKS_PASSWORD. That is how the postgres container of docker-compose.yml runs it
-- from /docker-entrypoint-initdb.d/ when it creates its database. -v role_prefix=x names
-- the roles x_owner, x_members, … (default sotay).
--
-- It may run again: it sets the passwords again (how to change them), grants what
-- exists, and hands the schemas and their tables to the owner role where another role
-- (a database migrated before these roles existed) owns them.
--
-- A new service needs its name in the list of `services` below and a password.

\set ON_ERROR_STOP 1
\set QUIET 1

\if :{?role_prefix}
\else
  \set role_prefix sotay
\endif
\if :{?owner_password}
\else
  \getenv owner_password PG_OWNER_PASSWORD
\endif
\if :{?owner_password}
\else
  \set owner_password ''
\endif
\if :{?members_password}
\else
  \getenv members_password PG_MEMBERS_PASSWORD
\endif
\if :{?members_password}
\else
  \set members_password ''
\endif
\if :{?identity_password}
\else
  \getenv identity_password PG_IDENTITY_PASSWORD
\endif
\if :{?identity_password}
\else
  \set identity_password ''
\endif
\if :{?content_password}
\else
  \getenv content_password PG_CONTENT_PASSWORD
\endif
\if :{?content_password}
\else
  \set content_password ''
\endif
\if :{?metrics_password}
\else
  \getenv metrics_password PG_METRICS_PASSWORD
\endif
\if :{?metrics_password}
\else
  \set metrics_password ''
\endif
\if :{?webhooks_password}
\else
  \getenv webhooks_password PG_WEBHOOKS_PASSWORD
\endif
\if :{?webhooks_password}
\else
  \set webhooks_password ''
\endif

BEGIN;

-- The services, each with its password (an empty one is refused below).
CREATE TEMPORARY TABLE services (name text PRIMARY KEY, password text) ON COMMIT DROP;
INSERT INTO services VALUES
    ('members', :'members_password'),
    ('identity', :'identity_password'),
    ('content', :'content_password'),
    ('metrics', :'metrics_password'),
    ('webhooks', :'webhooks_password');
CREATE TEMPORARY TABLE settings (prefix text, owner text, owner_password text) ON COMMIT DROP;
INSERT INTO settings VALUES (:'role_prefix', :'role_prefix' || '_owner', :'owner_password');

DO $$
DECLARE
    missing text := (SELECT string_agg(who, ', ') FROM (
        SELECT 'owner' AS who FROM settings WHERE owner_password = ''
        UNION ALL SELECT name FROM services WHERE password = '') m);
BEGIN
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'roles.sql: no password for %: -v <name>_password=… or PG_<NAME>_PASSWORD', missing;
    END IF;
END $$;

-- The roles, created when missing, their passwords set every time.
SELECT format('CREATE ROLE %I', r.role)
FROM (SELECT owner AS role FROM settings UNION ALL SELECT prefix || '_' || name FROM settings, services) r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.role)
\gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION '
              'NOBYPASSRLS PASSWORD %L', owner, owner_password) FROM settings
\gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION '
              'NOBYPASSRLS PASSWORD %L', prefix || '_' || name, password) FROM settings, services
\gexec

-- The database: everyone may connect; the owner role may create schemas; nobody creates
-- in public, where the shared extensions live (pg_trgm, created here once).
SELECT format('GRANT CONNECT, CREATE ON DATABASE %I TO %I', current_database(), owner) FROM settings
\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), prefix || '_' || name)
FROM settings, services
\gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

-- Each service's schema, owned by the owner role.
SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', name, owner) FROM settings, services
\gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', name, owner) FROM settings, services
\gexec
-- Tables and sequences another role created (migrated before these roles) go to the owner
-- role; a sequence of a serial or identity column follows its table.
SELECT format('ALTER %s %I.%I OWNER TO %I', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
              WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, n.nspname, c.relname, s.owner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN services ON services.name = n.nspname
CROSS JOIN settings s
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND pg_get_userbyid(c.relowner) <> s.owner
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                       AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
\gexec

-- The service's role: its schema, the DML on its tables and its sequences, those of now and
-- those the owner role's later migrations create. No CREATE, no TRUNCATE, no other schema.
SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', name) FROM services
\gexec
SELECT format('GRANT USAGE ON SCHEMA %I TO %I', name, prefix || '_' || name) FROM settings, services
\gexec
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', name, prefix || '_' || name)
FROM settings, services
\gexec
SELECT format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', name, prefix || '_' || name)
FROM settings, services
\gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
              owner, name, prefix || '_' || name) FROM settings, services
\gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I',
              owner, name, prefix || '_' || name) FROM settings, services
\gexec

-- Audit trails are only ever added to (DESIGN.md, "Personal data"): a service's role inserts their
-- rows and may not update, delete or truncate them. Taken back here from the tables that exist
-- (this script runs again after `sotay migrate`); a table a later migration creates gets the
-- default privileges above, and that migration takes them back itself (members' 002_audit.sql).
-- content, metrics and webhooks keep no audit trail.
CREATE TEMPORARY TABLE audit_tables (service text, name text) ON COMMIT DROP;
INSERT INTO audit_tables VALUES
    ('members', 'record_reads'),
    ('members', 'member_history'),
    ('identity', 'audit_log'),
    ('identity', 'consents');
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE ON %I.%I FROM %I', a.service, a.name, s.prefix || '_' || a.service)
FROM audit_tables a CROSS JOIN settings s
WHERE to_regclass(format('%I.%I', a.service, a.name)) IS NOT NULL
\gexec

COMMIT;
\echo 'roles.sql: the owner role and the roles of members, identity, content, metrics and webhooks are set up'
