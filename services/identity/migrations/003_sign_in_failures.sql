-- Failed sign-ins by account and by client address, shared by every identity
-- replica so that more replicas do not mean more guesses.
CREATE TABLE sign_in_failures (
    key       text PRIMARY KEY,
    failures  integer NOT NULL,
    last_at   timestamptz NOT NULL
);
