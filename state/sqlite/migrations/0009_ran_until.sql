-- The last tick the cloud listed a terminating instance running after its
-- terminate call was answered, in Unix nanoseconds (0: never): the cloud
-- did not act, and the row ends then, not at the call. Stored, so that a
-- restarted server or the next leader ends the row at the run the spend
-- ledger billed.
ALTER TABLE instances ADD COLUMN ran_until INTEGER NOT NULL DEFAULT 0;
