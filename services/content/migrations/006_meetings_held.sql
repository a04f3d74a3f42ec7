-- Issue 20: a cell's meetings that happened. A meeting is the month's regular one or a thematic
-- one (sinh hoạt chuyên đề); once it has started its secretary records who came (meeting_presence:
-- present, or absent with or without a reason) and attaches the minutes (biên bản, a document of
-- the library). held_at: when it was first recorded as held.
ALTER TABLE meetings
    ADD COLUMN kind        text NOT NULL DEFAULT 'regular' CHECK (kind IN ('regular', 'thematic')),
    ADD COLUMN held_at     timestamptz,
    ADD COLUMN minutes     uuid,
    ADD COLUMN recorded_by text;

CREATE TABLE meeting_presence (
    meeting_id uuid NOT NULL REFERENCES meetings (id),
    member_id  uuid NOT NULL,
    present    boolean NOT NULL,
    reason     text,                 -- why an absent member did not come (their answer, or the secretary's)
    PRIMARY KEY (meeting_id, member_id)
);
-- Planning: the cells' regular meetings by month.
CREATE INDEX meetings_planned ON meetings (cell, starts_at) WHERE kind = 'regular';
