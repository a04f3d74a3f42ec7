-- Trust boundaries (deploy/README.md, "Security").

-- Signing keys are kept sealed with the key-encryption key (AES-256-GCM, the key id bound to
-- the ciphertext). Identity seals the rows of earlier versions when it starts and clears their
-- clear-text column, which a later migration drops.
ALTER TABLE signing_keys ADD COLUMN sealed bytea;
ALTER TABLE signing_keys ALTER COLUMN private_pem DROP NOT NULL;

-- Throttles as sliding windows: the times of the latest events (failed sign-ins, registrations)
-- per key: an account, a client address, an account at an address, a card's status checks. Keys
-- hold ids and keyed hashes, never an address, a card or a phone. Their predecessor, which kept
-- cards and phones in clear, goes.
DROP TABLE sign_in_failures;
CREATE TABLE throttle_windows (
    key text PRIMARY KEY,
    at  timestamptz[] NOT NULL
);

-- Addresses an account signed in from (a keyed hash of the address, never the address): an
-- account being guessed at from elsewhere still signs in from these.
CREATE TABLE known_addresses (
    account_id   uuid NOT NULL REFERENCES accounts (id),
    address_hash text NOT NULL,
    last_ok_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, address_hash)
);

-- What an approver compares a registration with: the registry's name as written, and the last
-- digits of its phone (the replica holds no phone number).
ALTER TABLE registry_members ADD COLUMN full_name text, ADD COLUMN phone_tail text;

-- Audit rows are written, never changed (as members' 002_audit.sql): a trigger refuses it to
-- anyone, the owner included (the all-in-one mode runs the service as the owner), and the rights
-- identity's role got through the owner's default privileges (roles.sql) are taken back.
CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit trail: its rows are never changed or deleted', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT pg_get_userbyid(a.grantee)
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'audit_log'::regclass
          AND a.grantee NOT IN (0, c.relowner) AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM %I', grantee);
    END LOOP;
END
$$;
