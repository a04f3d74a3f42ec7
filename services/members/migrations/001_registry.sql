-- The member registry: org tree, members, their history, correction requests, imports.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE org_units (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('city', 'committee', 'grassroots', 'cell')),
    parent_id   uuid REFERENCES org_units (id),
    -- The directly subordinate committee the unit belongs to ('city' for the city itself):
    -- the last token of every event subject about it.
    committee   text NOT NULL,
    -- '/city/ba-dinh/ba-dinh-g001/' : a subtree is a prefix.
    path        text NOT NULL UNIQUE,
    wave        integer CHECK (wave > 0),
    closed_at   timestamptz,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_units_parent ON org_units (parent_id);
CREATE INDEX org_units_path ON org_units (path text_pattern_ops);

CREATE TABLE members (
    id                uuid PRIMARY KEY,
    party_card_no     text NOT NULL UNIQUE,
    full_name         text NOT NULL,
    name_folded       text NOT NULL,
    date_of_birth     date NOT NULL,
    gender            text CHECK (gender IN ('male', 'female')),
    citizen_id        text UNIQUE,
    phone             text,
    unit_id           uuid NOT NULL REFERENCES org_units (id),
    unit_path         text NOT NULL,
    temporary_unit_id uuid REFERENCES org_units (id),
    admitted_on       date,
    official_on       date,
    status            text NOT NULL CHECK (status IN
                        ('active', 'probationary', 'exempt', 'transferred_out', 'deceased', 'removed')),
    eligible          boolean NOT NULL,
    ineligible_reason text,
    has_account       boolean NOT NULL DEFAULT false,
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_unit_path ON members (unit_path text_pattern_ops, id);
CREATE INDEX members_name_trgm ON members USING gin (name_folded gin_trgm_ops);
CREATE INDEX members_phone ON members (phone);

-- Who changed what, when and why: one row per change of a member.
CREATE TABLE member_history (
    id         bigserial PRIMARY KEY,
    member_id  uuid NOT NULL REFERENCES members (id),
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    changes    jsonb NOT NULL DEFAULT '{}',
    reason     text
);
CREATE INDEX member_history_member ON member_history (member_id, at);

-- Reads of a member's full record by staff (personal-data audit).
CREATE TABLE record_reads (
    id        bigserial PRIMARY KEY,
    member_id uuid NOT NULL,
    actor     text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE correction_requests (
    id              uuid PRIMARY KEY,
    member_id       uuid NOT NULL REFERENCES members (id),
    requested_by    text NOT NULL,
    changes         jsonb NOT NULL,
    note            text,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    decided_by      text,
    decided_at      timestamptz,
    decision_reason text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX correction_requests_member ON correction_requests (member_id);

CREATE TABLE imports (
    id          uuid PRIMARY KEY,
    filename    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    total_rows  integer NOT NULL DEFAULT 0,
    imported    integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    errors      jsonb NOT NULL DEFAULT '[]',
    created_by  text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
