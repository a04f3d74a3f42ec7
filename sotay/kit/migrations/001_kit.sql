-- The kit's tables, created in every service's schema.

-- Transactional outbox: written in the same transaction as the change it reports.
CREATE TABLE outbox (
    position     bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    subject      text NOT NULL,
    body         bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
-- The relay reads only what is still to publish.
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

-- Inbox: the ids of applied events, written in the same transaction as their effect.
CREATE TABLE inbox (
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Idempotency keys of POST requests: a retried request gets the first answer.
CREATE TABLE idempotency_keys (
    key          text NOT NULL,
    principal    text NOT NULL,
    method_path  text NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
