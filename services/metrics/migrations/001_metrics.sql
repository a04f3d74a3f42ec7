-- Metrics: the org tree, the state of each member and registration as the
-- rollout sees it (from members and identity events), per-unit counters kept
-- from those states, readers, training, and what was last published.

CREATE TABLE units (
    code      text PRIMARY KEY,
    unit_id   text NOT NULL,
    name      text NOT NULL,
    kind      text NOT NULL,
    path      text NOT NULL,
    committee text NOT NULL,
    wave      integer,
    closed    boolean NOT NULL DEFAULT false
);
CREATE INDEX units_path ON units (path text_pattern_ops);

-- A member as the rollout counts them.
CREATE TABLE members (
    member_id uuid PRIMARY KEY,
    unit      text NOT NULL,
    status    text NOT NULL,
    eligible  boolean NOT NULL,
    reason    text,
    installed boolean NOT NULL DEFAULT false,  -- has a pending or approved (not disabled) registration
    version   integer NOT NULL
);

-- A registration and the account it became.
CREATE TABLE registrations (
    registration_id uuid PRIMARY KEY,
    account_id      uuid UNIQUE,
    member_id       uuid,
    unit            text NOT NULL,            -- 'city' when the card matched nobody
    platform        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'disabled')),
    activated       boolean NOT NULL DEFAULT false
);
CREATE INDEX registrations_member ON registrations (member_id);

-- Counters of each unit's own members and registrations (not its subtree's:
-- a subtree's figures are the sum over its units). Kept from state changes,
-- so a figure moves only when a state does; never below zero.
CREATE TABLE unit_counts (
    unit                  text PRIMARY KEY,
    members_total         integer NOT NULL DEFAULT 0 CHECK (members_total >= 0),
    members_eligible      integer NOT NULL DEFAULT 0 CHECK (members_eligible >= 0),
    eligible_not_installed integer NOT NULL DEFAULT 0 CHECK (eligible_not_installed >= 0),
    registered            integer NOT NULL DEFAULT 0 CHECK (registered >= 0),
    accounts_web          integer NOT NULL DEFAULT 0 CHECK (accounts_web >= 0),
    accounts_mobile       integer NOT NULL DEFAULT 0 CHECK (accounts_mobile >= 0),
    accounts_pending      integer NOT NULL DEFAULT 0 CHECK (accounts_pending >= 0),
    accounts_approved     integer NOT NULL DEFAULT 0 CHECK (accounts_approved >= 0),
    accounts_rejected     integer NOT NULL DEFAULT 0 CHECK (accounts_rejected >= 0),
    accounts_activated    integer NOT NULL DEFAULT 0 CHECK (accounts_activated >= 0),
    accounts_disabled     integer NOT NULL DEFAULT 0 CHECK (accounts_disabled >= 0),
    articles_published    integer NOT NULL DEFAULT 0 CHECK (articles_published >= 0),
    feedback_posted       integer NOT NULL DEFAULT 0 CHECK (feedback_posted >= 0),
    trained_people        integer NOT NULL DEFAULT 0 CHECK (trained_people >= 0),
    training_sessions     integer NOT NULL DEFAULT 0 CHECK (training_sessions >= 0)
);

-- Members not eligible to use the app, by reason, per unit.
CREATE TABLE unit_ineligible (
    unit   text NOT NULL,
    reason text NOT NULL,
    n      integer NOT NULL CHECK (n >= 0),
    PRIMARY KEY (unit, reason)
);

-- Each reader's last day of reading (Hanoi days): readers today and over 7 days.
CREATE TABLE readers (
    account_id text PRIMARY KEY,
    unit       text NOT NULL,
    last_day   date NOT NULL
);
CREATE INDEX readers_day ON readers (last_day, unit);

CREATE TABLE training_sessions (
    id         uuid PRIMARY KEY,
    unit       text NOT NULL,
    held_on    date NOT NULL,
    topic      text NOT NULL,
    people     integer NOT NULL CHECK (people > 0),
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX training_unit ON training_sessions (unit, held_on);

-- The figures last published per unit: a snapshot goes out only when they change.
CREATE TABLE published (
    unit         text PRIMARY KEY,
    figures      jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);

-- History: a unit's figures as last published each day (as_of and time series).
CREATE TABLE unit_daily (
    unit    text NOT NULL,
    day     date NOT NULL,
    figures jsonb NOT NULL,
    PRIMARY KEY (unit, day)
);
