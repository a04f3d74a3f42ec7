-- Issue 16, trust boundaries.

-- A feed that publishes its entries at once does so only once a second chief editor
-- (not the one who set it up) has approved that; until then its entries wait as drafts.
-- Feeds set to publish before this are no exception: they wait for the approval too.
ALTER TABLE feeds ADD COLUMN publish_approved_by text, ADD COLUMN publish_approved_at timestamptz;

-- Who did what to a feed (set it up, approved its publishing), like article_history.
CREATE TABLE feed_history (
    id      bigserial PRIMARY KEY,
    feed_id uuid NOT NULL REFERENCES feeds (id),
    actor   text NOT NULL,
    action  text NOT NULL,
    detail  text,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feed_history_feed ON feed_history (feed_id, id);

-- Documents are for the units they are targeted to; those in the library already
-- are for the unit that added them (its subtree: the city's for everyone).
ALTER TABLE documents ADD COLUMN audience text[], ADD COLUMN audience_paths text[];
UPDATE documents SET audience = ARRAY[unit], audience_paths = ARRAY[unit_path];
ALTER TABLE documents ALTER COLUMN audience SET NOT NULL, ALTER COLUMN audience_paths SET NOT NULL;
CREATE INDEX documents_audience ON documents USING gin (audience_paths);
-- A meeting's papers are readable by its cell: which meetings hold a document.
CREATE INDEX meetings_documents ON meetings USING gin (documents);

-- Files in chunks of 1 MiB, written and read one at a time (never a whole file in memory).
CREATE TABLE document_chunks (
    document_id uuid NOT NULL REFERENCES documents (id),
    seq         integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (document_id, seq)
);
INSERT INTO document_chunks (document_id, seq, data)
SELECT d.id, g.seq, substring(d.content FROM g.seq * 1048576 + 1 FOR 1048576)
FROM documents d, generate_series(0, greatest((octet_length(d.content) - 1) / 1048576, 0)) AS g(seq);
ALTER TABLE documents DROP COLUMN content;
