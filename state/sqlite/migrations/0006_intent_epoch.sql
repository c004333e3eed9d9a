-- The leader term that wrote each intent (0: none) and a digest of the
-- launch parameters its first attempt took from the config (''), so that a
-- resume by a later term, or after a restart, repeats the first request
-- exactly under the same client token.
ALTER TABLE intents ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE intents ADD COLUMN params TEXT NOT NULL DEFAULT '';
