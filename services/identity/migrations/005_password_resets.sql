-- Password resets for members without e-mail (issue 18): a cell secretary or unit admin issues
-- a one-time code, handed over in person or by phone; the member sets a new password with it.
-- Only the code's keyed hash is kept (HMAC with the personal-data key, bound to the account), never
-- the code. An account has at most one live code: issuing another voids it.
CREATE TABLE password_reset_codes (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id),
    code_hash   text NOT NULL,
    issued_by   text NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,   -- wrong codes tried against it: past a few, it is void
    used_at     timestamptz,
    voided_at   timestamptz
);
CREATE UNIQUE INDEX password_reset_codes_live ON password_reset_codes (account_id)
    WHERE used_at IS NULL AND voided_at IS NULL;
