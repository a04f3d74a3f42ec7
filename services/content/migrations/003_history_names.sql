-- Who took each step of an article, as a person reads it: their name when the registry knows them
-- (the token's card in the readers replica), else the role they acted in and the unit it is held over.
ALTER TABLE article_history
    ADD COLUMN actor_name text,
    ADD COLUMN actor_role text,
    ADD COLUMN actor_unit text;
