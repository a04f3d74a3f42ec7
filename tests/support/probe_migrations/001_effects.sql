-- What the probe consumer did: one row per applied event.
CREATE TABLE effects (
    event_id  uuid PRIMARY KEY,
    type      text NOT NULL,
    subject   text NOT NULL,
    applied   integer NOT NULL DEFAULT 1
);
