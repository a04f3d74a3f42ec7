-- Issue 21: reconciliation with the national member database (Cơ sở dữ liệu đảng viên 3.0), the
-- source of truth for member records. An export of it is compared with the registry
-- (handlers/reconcile.py): one row per comparison, one item per difference found. Applying a
-- comparison writes the events of its differences through the usual outbox; identical records
-- leave no item. Items hold what a difference is: clear fields before and after in `changes`,
-- a citizen ID, phone or date of birth before and after sealed in `sealed` (bound to the item),
-- as member_history keeps them.
-- The date of birth's keyed hash beside the citizen ID's and the phone's (the HMAC-SHA256 member
-- events already carry): a comparison of the whole city finds a changed date of birth in SQL instead
-- of opening every member's sealed values. Written with the sealed values from now on; a member
-- written before has none (NULL) and is compared by opening their sealed values.
ALTER TABLE members ADD COLUMN date_of_birth_hash text;

CREATE TABLE reconciliations (
    id           uuid PRIMARY KEY,
    filename     text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The unit paths the comparison covered (the subtrees of its maker's registry roles).
    scope        text[] NOT NULL,
    rows_total   integer NOT NULL,
    -- Rows of the export in units outside the scope, left out of the comparison.
    rows_outside integer NOT NULL DEFAULT 0,
    identical    integer NOT NULL DEFAULT 0,
    -- Counts per unit and kind (no one's data): [{unit, new, changed, missing, conflicts, ...}].
    summary      jsonb NOT NULL DEFAULT '[]',
    -- applying: its items are being applied, a chunk of members a transaction (a run cut short
    -- resumes where it stopped: each item's outcome is written with its changes).
    status       text NOT NULL DEFAULT 'compared' CHECK (status IN ('compared', 'applying', 'applied')),
    applied_at   timestamptz,
    applied_by   text,
    -- What applying did: {events, applied, skipped} (counts).
    outcome      jsonb
);
CREATE INDEX reconciliations_created ON reconciliations (created_at);

CREATE TABLE reconciliation_items (
    reconciliation_id uuid NOT NULL REFERENCES reconciliations (id) ON DELETE CASCADE,
    seq               integer NOT NULL,
    -- new: in the export, not in the registry; changed: in both, fields differ; missing: in the
    -- registry (active standing), not in the export; outside: moved between the maker's units and
    -- others (the city's to apply).
    kind              text NOT NULL CHECK (kind IN ('new', 'changed', 'missing', 'outside')),
    row_no            integer,
    member_id         uuid,
    party_card_no     text NOT NULL,
    full_name         text NOT NULL,
    -- The member's version when compared: applying skips a member changed since.
    version           integer,
    unit_id           uuid NOT NULL REFERENCES org_units (id),
    unit_path         text NOT NULL,
    fields            text[] NOT NULL DEFAULT '{}',
    changes           jsonb NOT NULL DEFAULT '{}',
    sealed            bytea,
    -- Fields a pending correction request of the member also changes: held back, not applied.
    held              text[] NOT NULL DEFAULT '{}',
    corrections       uuid[] NOT NULL DEFAULT '{}',
    -- After applying: applied, skipped (and why), or held.
    outcome           text,
    outcome_reason    text,
    events            integer,
    PRIMARY KEY (reconciliation_id, seq)
);
