-- Identity: a replica of the registry (from members events), registrations,
-- accounts and their roles, refresh tokens, signing keys, the decisions' audit log.

-- The registry as identity knows it, for matching and for scoping approvers.
CREATE TABLE registry_units (
    code      text PRIMARY KEY,
    kind      text NOT NULL,
    path      text NOT NULL,          -- '/city/ba-dinh/…/' : a subtree is a prefix
    committee text NOT NULL,
    version   integer NOT NULL DEFAULT 0
);

CREATE TABLE registry_members (
    member_id       uuid PRIMARY KEY,
    party_card_no   text NOT NULL UNIQUE,
    name_folded     text NOT NULL,
    date_of_birth   date NOT NULL,
    unit            text NOT NULL,
    unit_path       text NOT NULL,
    committee       text NOT NULL,
    status          text NOT NULL,
    eligible        boolean NOT NULL,
    phone_hash      text,
    version         integer NOT NULL      -- the member's sequence: stale events are dropped
);
CREATE INDEX registry_members_phone ON registry_members (phone_hash);

CREATE TABLE registrations (
    id             uuid PRIMARY KEY,
    party_card_no  text NOT NULL,
    full_name      text NOT NULL,
    date_of_birth  date NOT NULL,
    phone          text NOT NULL,
    password_hash  text NOT NULL,
    platform       text NOT NULL CHECK (platform IN ('web', 'mobile')),
    match_result   text NOT NULL,
    match_reasons  jsonb NOT NULL DEFAULT '[]',
    member_id      uuid,
    unit           text,                  -- the member's cell when found in the registry
    unit_path      text NOT NULL,         -- '/city/' when not found: only city admins see it
    committee      text NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    reason         text,
    decided_by     text,
    decided_at     timestamptz,
    submitted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registrations_queue ON registrations (status, unit_path text_pattern_ops, submitted_at);
CREATE INDEX registrations_card ON registrations (party_card_no);

CREATE TABLE accounts (
    id              uuid PRIMARY KEY,
    member_id       uuid NOT NULL UNIQUE,
    party_card_no   text NOT NULL UNIQUE,
    phone           text NOT NULL,
    password_hash   text NOT NULL,
    platform        text NOT NULL,
    unit            text NOT NULL,
    unit_path       text NOT NULL,
    committee       text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    registration_id uuid,
    activated_at    timestamptz,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_phone ON accounts (phone);

-- Roles scoped to an org subtree; every account has `member` on its own cell.
CREATE TABLE grants (
    account_id uuid NOT NULL REFERENCES accounts (id),
    role       text NOT NULL,
    unit       text NOT NULL,
    granted_by text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, role, unit)
);

-- Rotating refresh tokens; a family is one sign-in. Reuse of a used token revokes its family.
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    family_id  uuid NOT NULL,
    account_id uuid NOT NULL REFERENCES accounts (id),
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id);

CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    private_pem bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL,
    reason  text,
    details jsonb NOT NULL DEFAULT '{}'
);
