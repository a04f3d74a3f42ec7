-- Notifications (handlers/notices.py): what a member is told, built from events (an article
-- published for their units, their cell's meeting called and, the day before, reminded, their
-- registration approved or rejected) and read in the handbook's inbox or pushed to their devices.

-- One row per thing told, not per member told: an article for the whole city is one row, and a
-- member's inbox is the rows whose audience holds their unit (as the feed is), or that name them.
CREATE TABLE notices (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('article', 'meeting', 'meeting_reminder',
                                                  'account_approved', 'account_rejected')),
    ref             text NOT NULL,                -- the article, meeting, account or registration
    audience_paths  text[] NOT NULL DEFAULT '{}', -- units whose members are told (their subtrees)
    account_id      text,                         -- or the one account told
    registration_id uuid,                         -- or the registrant told (before any account)
    title           text,                         -- an article's title; nothing personal
    details         jsonb NOT NULL DEFAULT '{}',  -- a meeting's time and place
    at              timestamptz NOT NULL,         -- when it is told (a scheduled article: its time)
    -- Pushing it: 'due' until every subscription it reaches has been sent to (in id order, up
    -- to pushed_through, so a replica taking over resumes where the last chunk ended).
    push_state      text NOT NULL DEFAULT 'due' CHECK (push_state IN ('due', 'done')),
    pushed_through  bigint NOT NULL DEFAULT 0,
    UNIQUE (kind, ref)
);
CREATE INDEX notices_audience ON notices USING gin (audience_paths);
CREATE INDEX notices_account ON notices (account_id, at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX notices_due ON notices (at) WHERE push_state = 'due';

-- What each account chose to receive (no row: everything), and how far its inbox has been seen.
CREATE TABLE notice_settings (
    account_id    text PRIMARY KEY,
    articles      boolean NOT NULL DEFAULT true,
    meetings      boolean NOT NULL DEFAULT true,
    account       boolean NOT NULL DEFAULT true,
    seen_through  bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Registrations waiting for approval, as identity announced them: a registrant may ask, before
-- having an account, to be told of the decision on this device.
CREATE TABLE pending_registrations (
    registration_id uuid PRIMARY KEY,
    submitted_at    timestamptz NOT NULL DEFAULT now()
);

-- A browser's Web Push subscription (its push service's endpoint and the keys its payloads are
-- encrypted with): a member's device, or a registrant's until the decision. The endpoint and keys
-- are personal data held for sending only: never logged, never in an event.
CREATE TABLE push_subscriptions (
    id              bigserial PRIMARY KEY,
    endpoint        text NOT NULL UNIQUE,
    p256dh          text NOT NULL,
    auth            text NOT NULL,
    account_id      text,
    party_card_no   text,          -- where the member sits comes from the registry replica by it
    registration_id uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    failures        int NOT NULL DEFAULT 0,
    last_error      text,
    CHECK (account_id IS NOT NULL OR registration_id IS NOT NULL)
);
CREATE INDEX push_subscriptions_account ON push_subscriptions (account_id);
CREATE INDEX push_subscriptions_card ON push_subscriptions (party_card_no);
CREATE INDEX push_subscriptions_registration ON push_subscriptions (registration_id)
    WHERE registration_id IS NOT NULL;
