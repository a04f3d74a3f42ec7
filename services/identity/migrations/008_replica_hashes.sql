-- Issue 19: identity's replica of the registry holds only keyed hashes of what matching needs
-- (HMAC-SHA256 with SOTAY_PII_HMAC_KEY, of the normalised value): the card number, the name folded,
-- the date of birth and the phone; the phone's last three digits stay for the approver. The names
-- and dates of birth the replica held in clear go. Member events (v2) bring the hashes; after an
-- upgrade, `sotay members republish` sends every member again so the replica holds them.
ALTER TABLE registry_members
    DROP COLUMN party_card_no,
    DROP COLUMN name_folded,
    DROP COLUMN full_name,
    DROP COLUMN date_of_birth,
    ADD COLUMN card_hash text UNIQUE,
    ADD COLUMN name_hash text,
    ADD COLUMN dob_hash  text;
