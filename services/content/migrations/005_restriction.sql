-- Issue 19: member events carry the person sealed under the member's own key, and none of it while
-- the member's data is restricted: a restricted member stays a reader of their unit, by id, without
-- a card or a name here until the restriction is lifted.
ALTER TABLE readers ALTER COLUMN party_card_no DROP NOT NULL, ALTER COLUMN full_name DROP NOT NULL;
