-- Issue 20: study and self-testing (học tập nghị quyết). An editor writes a study topic for an
-- audience (units, as an article's): a title, a short description, the resolution's documents (of
-- the library) and a quiz; a chief editor publishes it (handlers/study.py). Members take the quiz,
-- again if they like: one row per topic and account keeps the best score and the last answers.

CREATE TABLE study_topics (
    id             uuid PRIMARY KEY,
    title          text NOT NULL,
    description    text NOT NULL,
    documents      uuid[] NOT NULL DEFAULT '{}',   -- of the library
    -- [{prompt, options, correct, explanation}]: `correct` is the answer key, never sent to a
    -- member before they submit their answers.
    questions      jsonb NOT NULL,
    author         text NOT NULL,                   -- the editor's account
    author_unit    text NOT NULL,
    author_path    text NOT NULL,
    committee      text NOT NULL,
    audience       text[] NOT NULL,                 -- unit codes
    audience_paths text[] NOT NULL,
    status         text NOT NULL CHECK (status IN ('draft', 'published')),
    published_by   text,                            -- the chief editor's account
    published_at   timestamptz,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX study_topics_audience ON study_topics USING gin (audience_paths) WHERE status = 'published';
CREATE INDEX study_topics_desk ON study_topics (author_path text_pattern_ops, updated_at);
-- A topic's documents are readable by its audience (adapters/library.py VISIBLE).
CREATE INDEX study_topics_documents ON study_topics USING gin (documents) WHERE status = 'published';

-- A member's results: the member sees their own; a unit counts them per cell (never a score by name).
CREATE TABLE quiz_results (
    topic_id     uuid NOT NULL REFERENCES study_topics (id),
    account_id   text NOT NULL,
    member_id    uuid NOT NULL,
    cell         text NOT NULL,                    -- the member's cell when they last submitted
    answers      smallint[] NOT NULL,              -- the last submission's answers
    score        integer NOT NULL,                 -- the last submission's score
    best_score   integer NOT NULL,
    max_score    integer NOT NULL,
    attempts     integer NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now(),  -- the first submission
    submitted_at timestamptz NOT NULL DEFAULT now(),  -- the last one
    PRIMARY KEY (topic_id, account_id)
);
CREATE INDEX quiz_results_member ON quiz_results (topic_id, member_id);

-- A new topic to study is a notification too (handlers/notices.py), under the choice "articles".
ALTER TABLE notices DROP CONSTRAINT notices_kind_check;
ALTER TABLE notices ADD CONSTRAINT notices_kind_check CHECK (kind IN ('article', 'meeting', 'meeting_reminder',
    'account_approved', 'account_rejected', 'study'));
