-- Content: replicas of the org tree and of members (from members events),
-- articles and their workflow, reads, feedback, the documents library,
-- bookmarks, cell meetings and imported feeds.

-- The org tree as content knows it: audiences are subtrees.
CREATE TABLE org_units (
    code      text PRIMARY KEY,
    name      text NOT NULL,
    kind      text NOT NULL,
    path      text NOT NULL,            -- '/city/ba-dinh/…/' : a subtree is a prefix
    ancestors text[] NOT NULL,          -- the paths of the unit and every unit above it
    committee text NOT NULL,
    closed    boolean NOT NULL DEFAULT false
);

-- Members as readers: where each one sits, so the feed follows a transfer.
CREATE TABLE readers (
    member_id     uuid PRIMARY KEY,
    party_card_no text NOT NULL UNIQUE,
    full_name     text NOT NULL,        -- shown to the cell's secretary (meeting attendance)
    unit          text NOT NULL,
    unit_path     text NOT NULL,
    ancestors     text[] NOT NULL,
    committee     text NOT NULL,
    status        text NOT NULL,
    version       integer NOT NULL
);
CREATE INDEX readers_unit ON readers (unit);

CREATE TABLE feeds (
    id             uuid PRIMARY KEY,
    url            text NOT NULL UNIQUE,
    title          text,
    unit           text NOT NULL,          -- the importing unit: the articles' author unit
    category       text NOT NULL,
    audience       text[] NOT NULL,
    publish        boolean NOT NULL,       -- publish at once, or keep as drafts for review
    interval_s     integer NOT NULL DEFAULT 900,
    etag           text,
    modified       text,
    next_poll_at   timestamptz NOT NULL DEFAULT now(),
    last_polled_at timestamptz,
    last_ok_at     timestamptz,
    last_error     text,
    failures       integer NOT NULL DEFAULT 0,
    imported       integer NOT NULL DEFAULT 0,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE articles (
    id               uuid PRIMARY KEY,
    title            text NOT NULL,
    summary          text NOT NULL,
    body_html        text NOT NULL,          -- sanitised on the way in
    body_format      text NOT NULL CHECK (body_format IN ('markdown', 'html')),
    body_source      text NOT NULL,          -- as the author wrote it, for editing
    category         text NOT NULL CHECK (category IN ('news', 'directive', 'guidance', 'qa', 'local_news')),
    tags             text[] NOT NULL DEFAULT '{}',
    attachments      uuid[] NOT NULL DEFAULT '{}',
    author           text NOT NULL,          -- account id, or 'feed:<id>' for imports
    author_unit      text NOT NULL,
    author_path      text NOT NULL,
    committee        text NOT NULL,
    audience         text[] NOT NULL,        -- unit codes
    audience_paths   text[] NOT NULL,
    status           text NOT NULL CHECK (status IN
                       ('draft', 'submitted', 'approved', 'scheduled', 'published', 'retracted')),
    publish_at       timestamptz,
    expires_at       timestamptz,
    published_at     timestamptz,
    retracted_at     timestamptz,
    source_url       text,
    source_feed      uuid REFERENCES feeds (id),
    source_key       text,                   -- the entry's guid, else its link
    fetched_at       timestamptz,
    search_folded    text NOT NULL,          -- title, summary and body text, accents folded
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_feed, source_key)
);
-- The feed walks published articles newest first and stops at a page.
CREATE INDEX articles_feed ON articles (published_at DESC, id DESC) WHERE status = 'published';
CREATE INDEX articles_audience ON articles USING gin (audience_paths) WHERE status = 'published';
CREATE INDEX articles_desk ON articles (author_path text_pattern_ops, status, updated_at);
CREATE INDEX articles_due ON articles (publish_at) WHERE status = 'scheduled';
CREATE INDEX articles_search ON articles USING gin (search_folded gin_trgm_ops);

-- The workflow's history: who did what, when, with which comment.
CREATE TABLE article_history (
    id         bigserial PRIMARY KEY,
    article_id uuid NOT NULL REFERENCES articles (id),
    actor      text NOT NULL,
    action     text NOT NULL,
    from_status text,
    to_status  text NOT NULL,
    comment    text,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX article_history_article ON article_history (article_id, id);

-- A read per member, article and day (Vietnam's day).
CREATE TABLE reads (
    account_id text NOT NULL,
    article_id uuid NOT NULL,
    day        date NOT NULL,
    member_id  uuid,
    unit       text,
    read_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, article_id, day)
);
CREATE INDEX reads_article ON reads (article_id, day);

CREATE TABLE unit_settings (
    unit              text PRIMARY KEY,
    moderate_feedback boolean NOT NULL DEFAULT true,
    updated_by        text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE feedback (
    id          uuid PRIMARY KEY,
    article_id  uuid REFERENCES articles (id),
    to_unit     text NOT NULL,
    to_path     text NOT NULL,
    account_id  text NOT NULL,
    member_id   uuid,
    author_name text,
    author_unit text,
    body        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'visible', 'hidden')),
    moderated_by text,
    answer      text,
    answered_by text,
    answered_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_article ON feedback (article_id, created_at);
CREATE INDEX feedback_unit ON feedback (to_path text_pattern_ops, status, created_at);
CREATE INDEX feedback_author ON feedback (account_id, created_at);

CREATE TABLE documents (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('resolution', 'directive', 'guidance', 'other')),
    number        text,                 -- e.g. 15-NQ/TU
    title         text NOT NULL,
    issued_on     date,
    issuing_body  text,
    unit          text NOT NULL,        -- who added it (and may change it)
    unit_path     text NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    integer NOT NULL,
    sha256        text NOT NULL,
    content       bytea NOT NULL,
    search_folded text NOT NULL,
    added_by      text NOT NULL,
    added_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_search ON documents USING gin (search_folded gin_trgm_ops);
CREATE INDEX documents_issued ON documents (issued_on DESC NULLS LAST, id);

CREATE TABLE bookmarks (
    account_id  text NOT NULL,
    document_id uuid NOT NULL REFERENCES documents (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, document_id)
);

CREATE TABLE meetings (
    id         uuid PRIMARY KEY,
    cell       text NOT NULL,
    cell_path  text NOT NULL,
    starts_at  timestamptz NOT NULL,
    place      text NOT NULL,
    agenda     text NOT NULL,
    documents  uuid[] NOT NULL DEFAULT '{}',
    called_by  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meetings_cell ON meetings (cell, starts_at DESC);

CREATE TABLE attendance (
    meeting_id uuid NOT NULL REFERENCES meetings (id),
    account_id text NOT NULL,
    member_id  uuid,
    attending  boolean NOT NULL,
    note       text,
    answered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meeting_id, account_id)
);
