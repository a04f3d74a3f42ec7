-- Staff accounts (the first city admin, say) need not be members of the registry.
ALTER TABLE accounts ALTER COLUMN member_id DROP NOT NULL;
