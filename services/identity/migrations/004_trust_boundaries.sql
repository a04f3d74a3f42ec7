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

-- Audit rows are written, never changed (the kit's append_only, sotay/kit/migrations/003_append_only.sql).
SELECT append_only('audit_log');
