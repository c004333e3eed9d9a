-- The Idempotency-Key a manual burst was created with ('' for none) and a
-- digest of its request: a client that retries the request with the same
-- key gets the burst it created, not a second one. One owner's key names
-- one floor.
ALTER TABLE floors ADD COLUMN idem_key TEXT NOT NULL DEFAULT '';
ALTER TABLE floors ADD COLUMN idem_digest TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX floors_by_idem_key ON floors (owner, idem_key) WHERE idem_key <> '';
