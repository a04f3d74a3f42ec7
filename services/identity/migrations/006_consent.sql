-- The consent ledger (Law 91/2025/QH15, issue 19): each time a registrant or member agrees to a
-- purpose of the privacy notice, or withdraws it, one row per purpose: which version of the notice
-- they were shown, how (web or mobile), when, and from what client. A giving or a withdrawal is one
-- `id` (one event), with a row for each of its purposes. Rows are only ever added (proof of consent
-- is kept): the standing of a purpose is its latest row.
--
-- Whose: the registration the person made. The account approved from it (accounts.registration_id)
-- inherits its rows, and its own givings and withdrawals carry the account too. The client is a
-- summary of the user agent ("Chrome 120, Android": no build, no device model) and the keyed hash
-- of the address (as the throttles keep it), never the address itself.
CREATE TABLE consents (
    id              uuid NOT NULL,
    purpose         text NOT NULL,
    registration_id uuid NOT NULL,
    account_id      uuid,
    notice_version  integer NOT NULL,
    action          text NOT NULL CHECK (action IN ('given', 'withdrawn')),
    method          text NOT NULL CHECK (method IN ('web', 'mobile')),
    at              timestamptz NOT NULL DEFAULT now(),
    client          text NOT NULL,
    address_hash    text NOT NULL,
    PRIMARY KEY (id, purpose)
);
CREATE INDEX consents_registration ON consents (registration_id, purpose, at);
CREATE INDEX accounts_registration ON accounts (registration_id);

SELECT append_only('consents');
