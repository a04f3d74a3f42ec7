-- Webhooks: the endpoints of outside systems that cannot speak NATS, each receiving its
-- committee's events as CloudEvents over HTTP, and every delivery to them with its status.

-- The committees events are addressed to (and the city), from members' OrgUnitCreated:
-- an endpoint names one of these.
CREATE TABLE committees (
    code text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE endpoints (
    id            uuid PRIMARY KEY,
    committee     text NOT NULL,
    url           text NOT NULL,
    mode          text NOT NULL CHECK (mode IN ('structured', 'binary')),
    -- The signing secret, sealed with SOTAY_WEBHOOKS_KEK (AES-256-GCM, bound to the endpoint's id).
    secret_sealed bytea NOT NULL,
    description   text NOT NULL DEFAULT '',
    enabled       boolean NOT NULL DEFAULT true,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (committee, url)
);
CREATE INDEX endpoints_committee ON endpoints (committee) WHERE enabled;

-- One row per event and endpoint. The event's bytes, as published, are kept until the endpoint
-- has them (or the operator gives up on a failed one): a delivered row keeps what happened only.
CREATE TABLE deliveries (
    id               bigserial PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    subject          text NOT NULL,          -- the NATS subject it was published on
    stream           text NOT NULL,
    stream_seq       bigint NOT NULL,
    body             bytea,                  -- the event as published; NULL once delivered
    traceparent      text,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    failed_at        timestamptz,
    UNIQUE (endpoint_id, event_id)
);
-- The head of each endpoint's queue per stream, and the operator's lists by status.
CREATE INDEX deliveries_pending ON deliveries (endpoint_id, stream, stream_seq) WHERE status = 'pending';
CREATE INDEX deliveries_status ON deliveries (status, id);
